"""The one error of the selection package."""

from __future__ import annotations

from tts_cli.errors import UsageError


class SelectionError(UsageError, ValueError):
    """A bad selector spec, parameter or signal: a one-line message naming the valid choices.

    A ``ValueError`` too, so that callers validating specs need not import this package's errors.
    """
