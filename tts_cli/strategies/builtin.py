"""Imports the built-in strategy modules so that they register themselves."""

from tts_cli.strategies import greedy, majority  # noqa: F401
