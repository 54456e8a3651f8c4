"""Rendering a SearchTree as a Rich tree, and keeping it live on stderr while a search runs."""

from __future__ import annotations

import time
from typing import Any, Optional

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text
from rich.tree import Tree

from tts_cli.questions import inline_choices
from tts_cli.safe_text import one_line
from tts_cli.tree import ACTIVE, CHOSEN, FINISHED, PRUNED, Node, SearchTree

STYLES = {ACTIVE: "bold cyan", PRUNED: "dim", FINISHED: "green", CHOSEN: "bold green"}
MARKS = {ACTIVE: "▶", PRUNED: "✗", FINISHED: "●", CHOSEN: "★"}
MAX_CHILDREN = 6  # per node; the rest are summarised on one line
VISIBLE_DEPTHS = 4  # deeper searches show the latest levels; older single-child chains collapse


def step_label(node: Node, width: int = 60) -> Text:
    """One line: status mark, the first words of the step, score, tokens, answer."""
    program = node.meta.get("program")
    text = node.text
    if program is not None:  # a program sample: its first line of code, not the fence
        text = "program: " + (program.get("source") or text).replace("```python", "").strip()
    first_line = " ".join(one_line(text).split())
    if len(first_line) > width:
        first_line = first_line[: width - 1].rstrip() + "…"
    style = STYLES.get(node.status, "")
    label = Text(f"{MARKS.get(node.status, '·')} ", style=style)
    label.append(first_line or "(empty step)", style=style)
    details = ["greedy"] if node.meta.get("greedy") else []
    if node.score is not None:
        details.append(f"score {node.score:.2f}")
    if "confidence" in node.meta:
        details.append(f"conf {node.meta['confidence']:.1f}")
    if program is not None and program.get("status") != "ok":
        why = (program.get("stderr") or "").strip().splitlines() or [program.get("message") or ""]
        details.append(f"program {program.get('status')}" + (f" ({one_line(why[-1])[:40]})" if why[-1] else ""))
    if node.meta.get("finish_reason") == "stopped":
        details.append("stopped early")
    details.append(f"{node.tokens} tok")
    if node.answer is not None and node.status in (FINISHED, CHOSEN):
        details.append(f"answer {one_line(node.answer)}")
    elif node.status in (FINISHED, CHOSEN):  # it ended, but names nothing (e.g. no such option)
        details.append("no answer")
    label.append("  " + " · ".join(details), style="dim" if node.status == PRUNED else "magenta")
    return label


def render_tree(tree: SearchTree, *, title: str = "search", width: int = 60) -> Tree:
    children: dict[int, list[Node]] = {}
    for node in tree.nodes[1:]:
        if node.parent is not None:
            children.setdefault(node.parent, []).append(node)
    deepest = max((n.depth for n in tree.nodes), default=0)
    cutoff = max(0, deepest - VISIBLE_DEPTHS)
    asked = inline_choices(tree.root.text)  # a multiple-choice question: its options on a line of their own
    question = " ".join(one_line(asked.text if asked is not None else tree.root.text).split())
    heading = Text(f"{title}: ", style="bold").append(_shorten(question, width), style="")
    if asked is not None:
        options = "  ".join(f"{letter}) {_shorten(one_line(choice), 24)}" for letter, choice in zip(asked.letters, asked.choices))
        heading.append("\n" + options, style="cyan")
    root = Tree(heading, guide_style="dim")
    _add_children(root, tree.root.id, children, cutoff, width)
    return root


def _add_children(branch: Tree, node_id: int, children: dict[int, list[Node]], cutoff: int, width: int) -> None:
    kids = children.get(node_id, [])
    shown = sorted(kids, key=_priority)[:MAX_CHILDREN]
    hidden = len(kids) - len(shown)
    for child in sorted(shown, key=lambda n: n.id):
        grandchildren = children.get(child.id, [])
        if child.depth < cutoff and len(grandchildren) == 1 and child.status != PRUNED:
            # collapse an old single-child chain into its last step
            skipped = 1
            while child.depth < cutoff and len(children.get(child.id, [])) == 1:
                child = children[child.id][0]
                skipped += 1
            sub = branch.add(Text(f"… {skipped - 1} earlier step(s)", style="dim"))
            sub = sub.add(step_label(child, width))
        else:
            sub = branch.add(step_label(child, width))
        if child.status == PRUNED:
            count = _descendants(child.id, children)
            if count:
                sub.add(Text(f"… {count} pruned below", style="dim"))
            continue
        _add_children(sub, child.id, children, cutoff, width)
    if hidden > 0:
        branch.add(Text(f"… {hidden} more", style="dim"))


def _priority(node: Node) -> tuple[int, float]:
    rank = {CHOSEN: 0, ACTIVE: 1, FINISHED: 2, PRUNED: 3}.get(node.status, 4)
    return rank, -(node.score or 0.0)


def _descendants(node_id: int, children: dict[int, list[Node]]) -> int:
    return sum(1 + _descendants(c.id, children) for c in children.get(node_id, []))


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


class LiveTree:
    """Shows the search tree on stderr while it grows. Use as a context manager around the search."""

    def __init__(self, console: Console, tree: SearchTree, *, title: str) -> None:
        self.console = console
        self.tree = tree
        self.title = title
        self._generated = 0
        self._started = time.perf_counter()
        self._live: Optional[Live] = None
        self._last_update = 0.0
        tree.subscribe(self._on_event)

    def __enter__(self) -> "LiveTree":
        self._live = Live(
            self._renderable(), console=self.console, refresh_per_second=8, transient=False,
            vertical_overflow="visible", redirect_stdout=False, redirect_stderr=False,
        )
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self._renderable(final=True), refresh=True)
            self._live.__exit__(*exc)
            self._live = None

    def on_tokens(self, generated_in_call: int) -> None:
        """Engine progress hook: tokens generated so far by the running batch."""
        self._generated = generated_in_call
        now = time.perf_counter()
        if self._live is not None and now - self._last_update > 0.25:
            self._last_update = now
            self._live.update(self._renderable())

    def _on_event(self, event: str, node: Node) -> None:
        self._generated = 0
        if self._live is not None:
            self._live.update(self._renderable())

    def _renderable(self, final: bool = False) -> RenderableType:
        width = max(20, min(80, self.console.width - 30))
        view = render_tree(self.tree, title=self.title, width=width)
        if final:
            return view
        elapsed = time.perf_counter() - self._started
        footer = Text(
            f"{len(self.tree.nodes) - 1} nodes · {self.tree.total_tokens} tokens in the tree"
            + (f" · generating ({self._generated} tok in this batch)" if self._generated else "")
            + f" · {elapsed:.0f}s",
            style="dim",
        )
        return Group(_fit(view, self.console), footer)


def _fit(view: Tree, console: Console) -> RenderableType:
    """Keep the live region within the terminal: show its last lines when it is too tall."""
    lines = console.render_lines(view, console.options, pad=False)
    limit = max(5, console.height - 3)
    if len(lines) <= limit:
        return view
    kept = lines[-(limit - 1) :]
    text = Text(f"… {len(lines) - len(kept)} lines above\n", style="dim")
    for segments in kept:
        for segment in segments:
            text.append(segment.text, segment.style)
        text.append("\n")
    text.rstrip()
    return text
