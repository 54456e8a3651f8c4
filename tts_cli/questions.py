"""Reading and validating a question from an argument or a byte stream."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO, Optional, Sequence

from tts_cli.errors import InputError

MAX_QUESTION_BYTES = 1_000_000


def reject_binary(data: bytes, what: str) -> None:
    """Refuse binary data as a whole: text never holds a NUL byte."""
    if b"\x00" in data:
        raise InputError(f"{what} is binary data (it contains NUL bytes)")


def question_from_bytes(data: bytes, source: str = "stdin") -> str:
    reject_binary(data, f"the question from {source}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"the question from {source} is not valid UTF-8 (byte {exc.start})") from None
    return validate_question(text, source)


def validate_question(text: str, source: str = "the command line") -> str:
    text = text.strip().lstrip("\ufeff")
    if not text:
        raise InputError(f"the question from {source} is empty")
    if "\x00" in text:
        raise InputError(f"the question from {source} contains NUL characters")
    if len(text.encode("utf-8", errors="replace")) > MAX_QUESTION_BYTES:
        raise InputError(
            f"the question from {source} is larger than {MAX_QUESTION_BYTES // 1000} kB; "
            "no model here has a context that long"
        )
    return text


def read_question(arg: Optional[str], stdin: BinaryIO, stdin_isatty: bool) -> str:
    """QUESTION argument, ``-`` for stdin, or stdin when it is piped and no argument is given."""
    if arg is not None and arg != "-":
        return validate_question(arg)
    if arg is None and stdin_isatty:
        raise InputError("no question given: pass it as an argument, or pipe it on stdin")
    return question_from_bytes(stdin.read(MAX_QUESTION_BYTES + 1), "stdin")


# --- questions with options (multiple choice) -------------------------------------------------

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_CHOICES = len(LETTERS)


@dataclass(frozen=True)
class Question:
    """A question as the model is asked it: its text and, for a multiple-choice question, the
    options in order (lettered A, B, C ... whatever letters the input used)."""

    text: str
    choices: tuple[str, ...] = ()

    @property
    def letters(self) -> str:
        return LETTERS[: len(self.choices)]

    def prompt_text(self) -> str:
        """What the model reads: the text, then one lettered option per line."""
        if not self.choices:
            return self.text
        options = "\n".join(f"{letter}) {choice}" for letter, choice in zip(self.letters, self.choices))
        return f"{self.text}\n\n{options}"

    def labelled(self, letter: str) -> str:
        """``B) 5 cents`` for letter ``B``; the letter alone if it is not one of the options."""
        index = LETTERS.find(letter) if len(letter) == 1 else -1
        if 0 <= index < len(self.choices):
            return f"{letter}) {self.choices[index]}"
        return letter

    def choices_dict(self) -> list[dict[str, str]]:
        return [{"letter": letter, "text": choice} for letter, choice in zip(self.letters, self.choices)]


def make_question(text: str, choices: Sequence[str] = (), source: str = "the command line") -> Question:
    """A validated question. With ``choices`` they are its options; without, options written in
    the text (``A) … B) …``, ``(a) … (b) …``, ``A. …`` one per line) are found and taken out of it."""
    text = validate_question(text, source)
    if choices:
        cleaned = tuple(" ".join(str(c).split()) for c in choices)
        if len(cleaned) < 2:
            raise InputError(f"the question from {source} has one option; a choice needs at least two")
        if len(cleaned) > MAX_CHOICES:
            raise InputError(f"the question from {source} has {len(cleaned)} options; at most {MAX_CHOICES}")
        if any(not c for c in cleaned):
            raise InputError(f"an option of the question from {source} is empty")
        return Question(text, cleaned)
    found = inline_choices(text)
    return found if found is not None else Question(text)


# A marker is "A)", "(A)", "A." or "A:" (either case) at the start of the text, of a line or after a
# space ("A)0.22" needs no space; "A." and "A:" do). Only letters in order from A, two or more, count
# as options (see inline_choices).
_MARKER = re.compile(r"(?:^|(?<=\s))(?:\(([A-Za-z])\)|([A-Za-z])\)|([A-Za-z])[.:](?=\s|$))", re.MULTILINE)
_STEM_CUE = re.compile(r"[?:.]\s*$|\b(?:answer|options?|choices?|choose|select|which|what|pick)\b", re.IGNORECASE)
_MAX_OPTION_CHARS = 400


def inline_choices(text: str) -> Optional[Question]:
    """The question with the options written in its text taken out, or None when it has none.

    Options are a run of markers lettered A, B, C ... (or a, b, c ...) in order, the last option
    running to the end of the text. One per line they always count; on one line the text before
    them must end with ``?``, ``:`` or ``.``, or say "answer", "options", "which" ... so that
    "Find (a) the area and (b) the perimeter" stays a question with two parts.
    """
    # the last option runs to the end of the text and no option is longer than _MAX_OPTION_CHARS,
    # so only the text's tail can hold options: the scan stays short on a huge text
    tail = max(0, len(text) - MAX_CHOICES * (_MAX_OPTION_CHARS + 4))
    markers = list(_MARKER.finditer(text, tail))
    for first_at, first in enumerate(markers):
        if _letter(first) not in "aA":
            continue
        upper = _letter(first).isupper()
        run = [first]
        for marker in markers[first_at + 1 :]:
            if len(run) == MAX_CHOICES or marker.start() - run[-1].end() > _MAX_OPTION_CHARS:
                break  # no option is that long: the run has ended (this keeps the scan linear)
            expected = LETTERS[len(run)] if upper else LETTERS[len(run)].lower()
            if _letter(marker) == expected and marker.lastindex == first.lastindex and marker.group(0)[-1] == first.group(0)[-1]:
                run.append(marker)
        if len(run) < 2:
            continue
        options = [text[m.end() : (run[i + 1].start() if i + 1 < len(run) else len(text))] for i, m in enumerate(run)]
        options = [" ".join(o.split()) for o in options]
        if any(not o or len(o) > _MAX_OPTION_CHARS for o in options):
            continue
        stem = text[: first.start()].rstrip()
        one_per_line = all("\n" in text[run[i].end() : run[i + 1].start()] for i in range(len(run) - 1))
        if not stem:
            continue
        if not one_per_line and not _STEM_CUE.search(stem.splitlines()[-1] if stem.splitlines() else stem):
            continue
        return Question(stem, tuple(options))
    return None


def _letter(marker: re.Match[str]) -> str:
    return next(group for group in marker.groups() if group)
