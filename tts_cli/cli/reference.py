"""The command-line reference (docs/cli.md), generated from the Typer app so that it cannot drift:

    python -m tts_cli.cli.reference > docs/cli.md

tests/test_cli_reference.py fails when the committed file differs from what this prints.
"""

from __future__ import annotations

from typing import Any, Iterator

HEADER = """# Command-line reference

Generated from the code by `python -m tts_cli.cli.reference > docs/cli.md` (a test checks that it is
current). Every command also has `--help`.
"""


def render() -> str:
    import typer

    from tts_cli.cli.app import build_app

    group = typer.main.get_command(build_app())
    parts = [HEADER]
    for path, command in _commands(group, ["tts"]):
        parts.append(_command(path, command))
    return "\n".join(parts).rstrip() + "\n"


def _commands(group: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    for name in sorted(group.commands):
        command = group.commands[name]
        if getattr(command, "hidden", False):
            continue
        if hasattr(command, "commands"):
            yield from _commands(command, [*path, name])
        else:
            yield [*path, name], command


def _command(path: list[str], command: Any) -> str:
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    usage = " ".join([*path, "[OPTIONS]", *(p.name.upper() for p in arguments)])
    lines = [f"## `{' '.join(path)}`", "", f"`{usage}`", "", _text(command.help or ""), ""]
    for argument in arguments:
        lines.append(f"- `{argument.name.upper()}`: {_text(getattr(argument, 'help', '') or '')}")
    if arguments:
        lines.append("")
    panels: dict[str, list[Any]] = {}
    for param in command.params:
        if param.param_type_name == "option" and not param.hidden:
            panels.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append(param)
    for panel, options in panels.items():
        lines += [f"{panel}:", "", "| option | default | meaning |", "|---|---|---|"]
        for option in options:
            lines.append(f"| {_flags(option)} | {_default(option)} | {_cell(option.help or '')} |")
        lines.append("")
    return "\n".join(lines)


def _flags(option: Any) -> str:
    names = [*option.opts, *option.secondary_opts]
    return " / ".join(f"`{n}`" for n in names)


def _default(option: Any) -> str:
    default = option.default
    if option.is_flag or default is None or default == () or not option.show_default:
        return ""
    return f"`{default}`"


def _text(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _text(text).replace("|", "\\|")


if __name__ == "__main__":
    print(render(), end="")
