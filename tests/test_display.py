"""The tree view renders a recorded search correctly; the live view when stderr is a terminal."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from tts_cli.display.tree_view import LiveTree, render_tree
from tts_cli.tree import CHOSEN, FINISHED, PRUNED, SearchTree


def recorded_search() -> SearchTree:
    """A beam search as a sequence of tree events: two steps, one pruned branch, a chosen answer."""
    tree = SearchTree("What is 6 times 7?")
    a = tree.add(0, "We multiply 6 by 7.", 8, score=0.9)
    b = tree.add(0, "Add 6 and 7 to get 13.", 9, score=0.2)
    tree.update(b.id, status=PRUNED)
    c = tree.add(a.id, "6 * 7 = 42, so the answer is \\boxed{42}.", 15, score=0.95, answer="42")
    tree.update(c.id, status=FINISHED)
    tree.add(b.id, "so 13.", 3, score=0.1, status=PRUNED)
    tree.mark_chosen(c.id)
    return tree


def capture(renderable, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.file.getvalue()


def test_rendered_tree_shows_steps_scores_tokens_and_marks():
    text = capture(render_tree(recorded_search(), title="beam"))
    lines = text.splitlines()
    assert lines[0].startswith("beam: What is 6 times 7?")
    assert "★ We multiply 6 by 7.  score 0.90 · 8 tok" in text
    assert "★ 6 * 7 = 42, so the answer is \\boxed{42}.  score 0.95 · 15 tok · answer 42" in text
    assert "✗ Add 6 and 7 to get 13.  score 0.20 · 9 tok" in text
    assert "… 1 pruned below" in text  # pruned subtrees are folded
    assert "so 13." not in text


def test_samples_show_their_confidence_and_early_stops():
    tree = SearchTree("What is 6 times 7?")
    done = tree.add(0, "6 * 7 = 42 \\boxed{42}", 12, answer="42", meta={"confidence": 12.345, "finish_reason": "eos"})
    tree.update(done.id, status=FINISHED)
    tree.add(0, "Let me think about", 64, status=PRUNED, meta={"confidence": 3.2, "finish_reason": "stopped"})
    text = capture(render_tree(tree, title="adaptive"))
    assert "conf 12.3 · 12 tok · answer 42" in text
    assert "conf 3.2 · stopped early · 64 tok" in text


def test_long_steps_are_shortened_to_one_line():
    tree = SearchTree("q")
    tree.add(0, "word " * 100, 100)
    text = capture(render_tree(tree, width=40))
    step_line = text.splitlines()[1]
    assert "…" in step_line and len(step_line) < 100


def test_many_children_are_summarised():
    tree = SearchTree("q")
    for i in range(10):
        tree.add(0, f"candidate {i}", 1, score=i / 10)
    text = capture(render_tree(tree))
    assert "… 4 more" in text
    assert "candidate 9" in text and "candidate 0" not in text  # best scores shown first


def test_old_levels_collapse_on_deep_searches():
    tree = SearchTree("q")
    parent = 0
    for depth in range(12):
        parent = tree.add(parent, f"step {depth}", 1).id
    text = capture(render_tree(tree))
    assert "earlier step(s)" in text
    assert "step 11" in text and "step 2 " not in text


def test_live_tree_updates_while_the_search_runs():
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, color_system=None)
    tree = SearchTree("What is 6 times 7?")
    with LiveTree(console, tree, title="beam") as live:
        node = tree.add(0, "We multiply 6 by 7.", 8, score=0.9)
        live.on_tokens(5)
        time.sleep(0.3)  # the refresh thread draws the intermediate state
        tree.update(node.id, status=CHOSEN)
    text = out.getvalue()
    assert "We multiply 6 by 7." in text and "★" in text


@pytest.mark.real
def test_ask_in_a_terminal_shows_the_tree_on_stderr_and_the_answer_on_stdout(cli, smollm2_path):
    result = cli(
        "ask", "What is 2 + 3?", "-s", "majority", "-n", "3", "--policy", "smollm2-135m", "--max-tokens", "32",
        "--threads", "2", stdin_isatty=True, stderr_isatty=True, no_color=False,
        COLUMNS="100", LINES="40", TERM="xterm", NO_COLOR=None,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "majority: What is 2 + 3?" in result.err  # the tree header, on the terminal (stderr)
    assert "★" in result.err and "\x1b[" in result.err  # chosen mark, drawn with terminal escapes
    assert result.out.strip() and "\x1b[" not in result.out and "majority:" not in result.out
