"""`tts strategies`: the registered strategies, one line each, with their options."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer


def strategies(
    invocation: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list on stdout.")] = False,
    selectors: Annotated[
        bool, typer.Option("--selectors", help="List the selectors of --select (and tts bench --selectors) instead.")
    ] = False,
) -> None:
    """List the search strategies with one line each and their options (in a terminal, the selectors
    of --select as well)."""
    from rich.table import Table

    from tts_cli.cli.options import listed_flags
    from tts_cli.env import Environment
    from tts_cli.strategies import available

    env = invocation.ensure_object(Environment)
    if selectors:
        _list_selectors(env, as_json)
        return
    infos = available()
    flags = {i.name: listed_flags(i) for i in infos}
    if as_json:
        rows = [
            {
                "name": i.name, "summary": i.summary, "needs_verifier": i.needs_verifier, "options": flags[i.name],
                "samples": i.samples, "poolable": i.poolable, "replayable": i.replayable,
                "deterministic": i.deterministic, "needs_sandbox": i.needs_sandbox,
            }
            for i in infos
        ]
        env.stdout.write(json.dumps(rows) + "\n")
        return
    if not env.stdout_isatty:
        for i in infos:
            env.stdout.write(f"{i.name}\t{i.summary}\t{' '.join(flags[i.name])}\n")
        return
    table = Table(show_edge=False, header_style="bold")
    for column in ("strategy", "what it does", "verifier", "options"):
        table.add_column(column)
    for i in infos:
        table.add_row(i.name, i.summary, "needed" if i.needs_verifier else "optional", " ".join(flags[i.name]))
    env.out.print(table)
    env.out.print()
    _list_selectors(env, False)


def _list_selectors(env: Any, as_json: bool) -> None:
    """The named selectors and the grammar of the others."""
    from rich.table import Table

    from tts_cli.selection import RULES, SIGNALS, available_selectors

    found = available_selectors()
    if as_json:
        rows = [{"name": s.name, "spec": s.spec, "summary": s.summary} for s in found]
        env.stdout.write(json.dumps(rows) + "\n")
        return
    if not env.stdout_isatty:
        for s in found:
            env.stdout.write(f"{s.name}\t{s.spec}\t{s.summary}\n")
        return
    table = Table(show_edge=False, header_style="bold", title="selectors (--select NAME, or RULE:SIGNAL[@PARAM])")
    for column in ("selector", "is", "what it does"):
        table.add_column(column)
    for s in found:
        table.add_row(s.name, s.spec, s.summary)
    table.caption = f"rules: {', '.join(RULES)}; signals: {', '.join(SIGNALS)}"
    table.caption_justify = "left"
    env.out.print(table)


def register(app: typer.Typer) -> None:
    app.command("strategies")(strategies)
