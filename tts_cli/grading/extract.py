"""Pull the final answer out of a model's solution text or a dataset's gold answer field.

Everything here runs in linear time on any ``str`` (no regex with nested or adjacent
unbounded quantifiers that could backtrack catastrophically) and never raises.
"""

from __future__ import annotations

import re

BOX_COMMANDS: tuple[str, ...] = ("\\boxed", "\\fbox")
# Each failed candidate costs one scan to the end of the text, so only a few of the last
# boxes are tried; this keeps the search linear even on "\boxed{\boxed{\boxed{..." garbage.
_MAX_BOX_CANDIDATES = 8

# "answer is", "answer:", "**Final Answer:**", "answer =" ... The keyword must be followed by
# "is", ":" or "=" so that prose such as "let's answer the question" does not match.
_ANSWER_PHRASE = re.compile(r"\banswer[*\s]*(?:is\b[*\s]*:?|[:=])[*\s]*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_LEADING_NUMBER_THEN_WORDS = re.compile(r"(-?\$?\d[\d,]*(?:\.\d+)?%?)\s+[A-Za-z]")
# A maximal number-ish token; commas are sorted out afterwards instead of in the pattern,
# because a lookahead-checked thousands-group pattern backtracks quadratically.
_NUMBER_TOKEN = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
# "1,234", "-1,234.5" or "1,234." (a period with no decimals, as "1234." is a decimal too).
THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d*)?")


def extract_answer(text: str) -> str | None:
    """The final answer in a solution, or None when there is none.

    Priority: the last ``\\boxed{}``/``\\fbox{}``, a GSM8K ``#### n`` line, an
    "answer is ..."/"Final answer: ..." phrase (last one), then the last number in the text.
    """
    if not isinstance(text, str):
        return None
    for strategy in (last_boxed, _after_hashes, answer_phrase, _last_number):
        answer = strategy(text)
        if answer:
            return _normalise_thousands(answer)
    return None


def extract_gold(answer_field: str) -> str:
    """The gold answer of a dataset row.

    GSM8K answer fields end with ``#### n`` (commas are removed from n); a MATH solution
    containing ``\\boxed{}`` gives the boxed content; anything else is a bare answer, stripped.
    """
    if not isinstance(answer_field, str):
        return ""
    if "####" in answer_field:
        return answer_field.rsplit("####", 1)[1].strip().replace(",", "")
    boxed = last_boxed(answer_field)
    if boxed:
        return boxed
    return answer_field.strip()


def last_boxed(text: str) -> str | None:
    """The content of the last complete ``\\boxed{...}`` (or ``\\fbox{...}``) in ``text``, as
    written (no normalisation); None when there is none."""
    for start in _box_command_ends(text):
        content = _box_content(text, start)
        if content:
            return content
    return None


def _box_command_ends(text: str) -> list[int]:
    """Indices just past the last few box commands, the latest first."""
    ends: list[int] = []
    for command in BOX_COMMANDS:
        position = len(text)
        while len(ends) < 2 * _MAX_BOX_CANDIDATES:
            position = text.rfind(command, 0, position)
            if position < 0:
                break
            after = position + len(command)
            # "\boxed" must not be the prefix of a longer command name.
            if after >= len(text) or not text[after].isalpha():
                ends.append(after)
    ends.sort(reverse=True)
    return ends[:_MAX_BOX_CANDIDATES]


def _box_content(text: str, start: int) -> str | None:
    """The argument of a box command ending at ``start``: ``{...}`` or ``\\boxed 5`` form."""
    index = start
    while index < len(text) and text[index] in " \t":
        index += 1
    if index < len(text) and text[index] == "{":
        return _balanced_group(text, index)
    if index == start:
        return None
    # "\boxed 5": the argument runs to the next whitespace or "$".
    end = index
    while end < len(text) and not text[end].isspace() and text[end] != "$":
        end += 1
    return text[index:end].strip() or None


def _balanced_group(text: str, open_index: int) -> str | None:
    """The contents of the brace group opening at ``open_index``, or None if never closed."""
    close_index = matching_brace(text, open_index)
    if close_index < 0:
        return None
    return text[open_index + 1 : close_index].strip() or None


def matching_brace(text: str, open_index: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``open_index``, or -1 if it is never closed."""
    depth = 0
    index = open_index
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2  # an escaped "\{" or "\}" is a literal brace
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return -1


def _after_hashes(text: str) -> str | None:
    position = text.rfind("####")
    if position < 0:
        return None
    line = text[position + 4 :].split("\n", 1)[0]
    return _clean_phrase_answer(line.lstrip("#"))


def answer_phrase(text: str) -> str | None:
    """What follows the last "answer is" / "Final answer:" phrase on its line, trimmed; None without one."""
    last: re.Match[str] | None = None
    for match in _ANSWER_PHRASE.finditer(text):
        last = match
    if last is None:
        return None
    line = text[last.end() :].split("\n", 1)[0]
    return _clean_phrase_answer(line)


def _clean_phrase_answer(fragment: str) -> str | None:
    """Trim the text following an answer marker down to the answer itself."""
    fragment = fragment.strip().strip("*").strip()
    delimited = _math_delimited(fragment)
    if delimited is not None:
        fragment = delimited
    else:
        sentence_end = _SENTENCE_END.search(fragment)
        if sentence_end:
            fragment = fragment[: sentence_end.start()]
        number = _LEADING_NUMBER_THEN_WORDS.match(fragment)
        if number:  # "72 clips" -> "72"
            fragment = number.group(1)
    fragment = fragment.strip().rstrip(".").strip().strip("$").strip()
    return fragment or None


def _math_delimited(fragment: str) -> str | None:
    """The inside of a leading ``$...$``, ``\\(...\\)`` or ``\\[...\\]``, if closed."""
    for opener, closer in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if fragment.startswith(opener):
            close = fragment.find(closer, len(opener))
            if close >= 0:
                return fragment[len(opener) : close]
            return None
    return None


def _last_number(text: str) -> str | None:
    last: re.Match[str] | None = None
    for match in _NUMBER_TOKEN.finditer(text):
        last = match
    if last is None:
        return None
    token = last.group().replace("$", "")
    if token.startswith("-") and last.start() > 0 and text[last.start() - 1].isalnum():
        token = token[1:]  # "5-3" is a subtraction, not "-3"
    return _sort_out_commas(token)


def _sort_out_commas(token: str) -> str:
    """``1,234`` is one number; in ``1,2,3`` or ``5,`` the last piece is the number."""
    token = token.rstrip(",")
    if "," not in token or THOUSANDS.fullmatch(token):
        return token
    return token.rsplit(",", 1)[1]


def _normalise_thousands(answer: str) -> str:
    answer = answer.strip()
    if THOUSANDS.fullmatch(answer):
        return answer.replace(",", "")
    return answer
