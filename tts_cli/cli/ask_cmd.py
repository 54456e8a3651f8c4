"""`tts ask`: answer one question."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

from tts_cli.cli.options import SearchSettings, with_search_options


def ask(
    invocation: typer.Context,
    settings: SearchSettings,
    question: Annotated[
        Optional[str], typer.Argument(help="The question. '-' or a pipe reads it from stdin.", show_default=False)
    ] = None,
    choices: Annotated[
        Optional[list[str]],
        typer.Option(
            "--choice", "-c", metavar="TEXT", show_default=False,
            help="An option of a multiple-choice question (repeat it: A, B, C ... in order); options "
            "written in the question (A) … B) …) are found without it.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the answer; no cost summary.")] = False,
    no_live: Annotated[
        bool, typer.Option("--no-live", help="No live search tree (it is off anyway when stderr is not a terminal).")
    ] = False,
) -> None:
    """Answer QUESTION with a small local model, spending compute with the chosen strategy."""
    from tts_cli.cli.runtime import check_settings, open_session
    from tts_cli.display.cost import cost_table
    from tts_cli.env import Environment
    from tts_cli.questions import make_question, read_question
    from tts_cli.safe_text import one_line

    env = invocation.ensure_object(Environment)
    config = check_settings(settings)
    asked = make_question(read_question(question, env.stdin, bool(env.stdin_isatty)), choices or ())
    session = open_session(env, settings, config, quiet=quiet)
    try:
        if quiet or no_live or not env.stderr_isatty:
            solution = session.solve(asked)
        else:
            solution = _solve_live(env, session, asked)
    finally:
        session.close()
    if as_json:
        env.stdout.write(json.dumps(solution.to_dict(), ensure_ascii=False) + "\n")
    else:
        env.stdout.write(f"{one_line(solution.shown_answer)}\n")
    env.stdout.flush()
    if not quiet:
        env.err.print(cost_table(solution.cost))


def _solve_live(env: Any, session: Any, asked: Any) -> Any:
    from tts_cli.display.tree_view import LiveTree
    from tts_cli.tree import SearchTree

    tree = SearchTree(asked.prompt_text())
    with LiveTree(env.err, tree, title=session.strategy) as live:
        session.policy.on_step = live.on_tokens
        try:
            return session.solve(asked, tree=tree)
        finally:
            session.policy.on_step = None


def register(app: typer.Typer) -> None:
    app.command("ask")(with_search_options(ask))
