"""Imports the built-in strategy modules so that they register themselves, in the order
`tts strategies` lists them (so the imports are not sorted)."""

# isort: skip_file

from tts_cli.strategies import greedy, majority  # noqa: F401
from tts_cli.strategies import best_of_n, weighted  # noqa: F401
from tts_cli.strategies import beam, dvts, mcts  # noqa: F401
from tts_cli.strategies import refine  # noqa: F401
from tts_cli.strategies import adaptive, auto  # noqa: F401
from tts_cli.strategies import pot, mixed  # noqa: F401
