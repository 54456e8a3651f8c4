"""Reading and validating a question from an argument or a byte stream."""

from __future__ import annotations

from typing import BinaryIO, Optional

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
