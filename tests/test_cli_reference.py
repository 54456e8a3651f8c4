"""docs/cli.md is the command-line reference generated from the Typer app: it must be current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_the_cli_reference_is_current() -> None:
    # a fresh process: plugins registered by other tests must not leak into it
    done = subprocess.run([sys.executable, "-m", "tts_cli.cli.reference"], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    assert done.stdout == REFERENCE.read_text(), (
        "docs/cli.md is out of date: python -m tts_cli.cli.reference > docs/cli.md"
    )
