"""`tts --help` stays light: neither numpy nor llama.cpp is imported to print it, and the command
list comes from a static table (cli/app.py COMMANDS) that must say what the commands say."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

LIGHT_ENV = {"TTS_NO_SUPERVISOR": "1", "PATH": "/usr/bin:/bin"}


@pytest.mark.parametrize("argv", [["--help"], ["ask", "--help"], ["serve", "--help"]])
def test_help_imports_neither_numpy_nor_llama_cpp(argv: list[str]) -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "tts_cli", *argv], capture_output=True, text=True,
                          timeout=120, env=LIGHT_ENV, check=True)  # fmt: skip
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert "Usage" in done.stdout
    assert "numpy" not in imported and "llama_cpp" not in imported


MODULES_AFTER = """
import json, runpy, sys
sys.argv = ["tts", *sys.argv[1:]]
try:
    runpy.run_module("tts_cli", run_name="__main__")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(*argv: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", MODULES_AFTER, *argv], capture_output=True, text=True, timeout=120,
                          env=LIGHT_ENV, check=True)  # fmt: skip
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], []])
def test_the_command_list_builds_no_command(argv: list[str]) -> None:
    modules = _modules_after(*argv)
    heavy = {"numpy", "llama_cpp", "tts_cli.strategies", "tts_cli.store", "tts_cli.config"}
    assert not heavy & modules
    assert not {m for m in modules if m.startswith("tts_cli.cli.") and m.endswith("_cmd")}


def test_a_command_s_help_builds_that_command_only() -> None:
    commands = {m for m in _modules_after("models", "--help") if m.startswith("tts_cli.cli.") and m.endswith("_cmd")}
    assert commands == {"tts_cli.cli.models_cmd"}


def test_the_static_table_says_what_the_commands_say() -> None:
    import typer

    from tts_cli.cli.app import COMMANDS, build_app

    group = typer.main.get_command(build_app())
    assert [entry.name for entry in COMMANDS] == group.list_commands(typer.Context(group))  # type: ignore[attr-defined]
    for entry in COMMANDS:
        command = group.commands[entry.name]  # type: ignore[attr-defined]
        assert entry.summary == inspect.cleandoc(command.help or "").split("\n\n")[0], entry.name
        assert not command.hidden and not command.deprecated  # what the stand-ins of `tts --help` assume


@pytest.mark.parametrize(
    "argv", [["--help"], [], ["ask", "--help"], ["models", "--help"], ["models", "list", "--help"], ["aks"]]
)
def test_the_lazy_app_says_what_the_app_built_at_once_says(argv: list[str], cli, monkeypatch) -> None:
    from tts_cli.cli import app as cli_app

    lazy = cli(*argv, COLUMNS="100")
    monkeypatch.setattr(cli_app, "app", cli_app.build_app())
    eager = cli(*argv, COLUMNS="100")
    assert lazy == eager
    assert "Usage" in lazy.out + lazy.err
