"""Model-written text made safe for a terminal.

A question can carry a prompt injection, so an answer, a reasoning step or a program's output may
hold escape sequences that set the window title, write the clipboard (OSC 52), move the cursor or
rewrite what was printed before. Everything written for a person (not JSON, which escapes what it
must) goes through here: whole escape sequences are removed (so that a program printing
``ESC]0;owned BEL 42`` answers ``42``), then any C0 or C1 control character left, except newline and
tab.
"""

from __future__ import annotations

import re

# ECMA-48: control strings (OSC, DCS, SOS, PM, APC) up to BEL or ST; CSI with its parameters; and
# the two-character escapes. An unterminated string runs to the end of the text.
_ESCAPE = re.compile(r"\x1b[\]P X^_].*?(?:\x07|\x1b\\|\Z)|\x1b\[[0-?]*[ -/]*[@-~]?|\x1b[ -/]*[0-~]?", re.DOTALL)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` without escape sequences and control characters; newlines and tabs kept."""
    return _CONTROL.sub("", _ESCAPE.sub("", text))


def one_line(text: str) -> str:
    """``text`` as one line: escape sequences and control characters dropped, line breaks and tabs
    become spaces."""
    return printable(text).replace("\n", " ").replace("\t", " ").strip()
