"""Answer extraction and equivalence checking for grading and majority voting."""

from __future__ import annotations

from tts_cli.grading.equivalence import answers_equivalent, group_equivalent, majority_answer
from tts_cli.grading.extract import extract_answer, extract_gold, last_boxed

__all__ = [
    "answers_equivalent",
    "extract_answer",
    "extract_gold",
    "group_equivalent",
    "last_boxed",
    "majority_answer",
]
