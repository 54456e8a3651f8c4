"""`tts ask`: answer one question."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer

from tts_cli.cli.options import SearchSettings, search_options


@search_options
def ask(
    settings: SearchSettings,
    question: Annotated[
        Optional[str], typer.Argument(help="The question. '-' or a pipe reads it from stdin.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the answer; no cost summary.")] = False,
) -> None:
    """Answer QUESTION with a small local model, spending compute with the chosen strategy."""
    from tts_cli.cli.runtime import check_settings, open_session
    from tts_cli.display.cost import cost_table
    from tts_cli.env import Environment
    from tts_cli.questions import read_question

    env = Environment()
    config = check_settings(settings)
    text = read_question(question, sys.stdin.buffer, bool(env.stdin_isatty))
    session = open_session(env, settings, config, quiet=quiet)
    try:
        solution = session.solve(text)
    finally:
        session.close()
    if as_json:
        env.stdout.write(json.dumps(solution.to_dict(), ensure_ascii=False) + "\n")
    else:
        env.stdout.write(f"{solution.answer if solution.answer is not None else '(no answer)'}\n")
    env.stdout.flush()
    if not quiet:
        env.err.print(cost_table(solution.cost))


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
