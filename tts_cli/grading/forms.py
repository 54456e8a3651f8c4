"""What kind of answer a question takes, and how to read, compare and show one of that kind.

A question with options (``Question.choices``) takes a letter: every answer a strategy holds is the
option's letter (``"B"``), whatever the model wrote (``\\boxed{B}``, ``The answer is (B)``, ``**B**``,
the option's text written out), so votes, selectors, verifiers and grading compare letters. An
answer that names no option is no answer. Any other question takes a free answer: a number or
formula keeps its math form, short text loses its LaTeX wrapper (``\\text{steel}`` → ``steel``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Optional, Sequence

from tts_cli.grading.equivalence import without_article
from tts_cli.grading.extract import answer_phrase, extract_answer, extract_gold, last_boxed
from tts_cli.grading.option_value import option_value
from tts_cli.questions import Question

_TEXT_WRAPPER = re.compile(r"^\\(?:text|textbf|textit|mathrm|mbox|mathbf|emph)\s*\{(.*)\}$", re.DOTALL)
_WORDY = re.compile(r"^[A-Za-z][A-Za-z '\-,.!?]*$")
_YES_NO = {"yes": "yes", "no": "no"}
_PUNCTUATION = re.compile(r"[^\w\s%./-]")

# A letter alone, decorated: "B", "(B)", "B)", "B.", "[B]", "**B**", "Option B", "choice (b)"
_LETTER_ALONE = re.compile(
    r"^(?:(?:option|choice|letter)\s*)?[\s*_(\[{]*([A-Za-z])[\s*_)\]}.:]*$", re.IGNORECASE
)
# A capital letter closed by ")", "." or ":" and followed by text: "B) 5 cents", "(B) 5 cents", "B: 5 cents"
_LETTER_THEN_TEXT = re.compile(r"^(?:(?:option|choice)\s*)?[*_]*\(?([A-Z])[).:][*_]*\s+(.+)$", re.IGNORECASE | re.DOTALL)
# "answer is (B)", "Answer: B", "the correct option is C": a capital letter, or any letter in brackets.
# Not "Option D: ..." alone: chains that weigh every option name each of them so.
_ANSWER_LETTER = re.compile(
    r"(?i:answer|(?:correct|right|best)\s+(?:option|choice))\s*(?i:is|would be|should be)?\s*[:=]?\s*[*_]*\s*"
    r"(?:\(([A-Za-z])\)|\[([A-Za-z])\]|([A-Z]))(?![A-Za-z0-9])"
)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_FRACTION = re.compile(r"(-?\d{1,12})\s*/\s*(\d{1,12})")
_NEAREST_TOLERANCE = 0.02  # a program's value names an option within 2% of the option's value


def unwrap_text(answer: str) -> str:
    """``\\text{steel}`` → ``steel``; ``\\textbf{\\text{yes}}`` → ``yes``; anything else as it is."""
    current = answer.strip()
    for _ in range(4):
        match = _TEXT_WRAPPER.match(current)
        if match is None:
            break
        current = match.group(1).strip()
    return current


def normalise_text(answer: str) -> str:
    """Short text compared as a person would: case, punctuation, leading articles and LaTeX text
    wrappers do not count (``The Steel.`` ~ ``\\text{steel}``)."""
    text = unwrap_text(answer).lower()
    return without_article(" ".join(_PUNCTUATION.sub(" ", text).strip(" .").split()))


class FreeForm:
    """A question without options: the answer is whatever the solution's final answer says."""

    kind = "free"
    question: Optional[Question] = None
    # What a chain of thought cut off at its token limit is continued with to make it name its
    # answer (None: it stays without one). Kept for choice questions, where the answer is a letter
    # and a few tokens settle it; math chains keep the behaviour their measurements were made with.
    answer_cue: Optional[str] = None

    def extract(self, text: str) -> Optional[str]:
        answer = extract_answer(text)
        return self.clean(answer) if answer is not None else None

    def clean(self, answer: str) -> Optional[str]:
        """A text answer loses its LaTeX wrapper and yes/no is written in lower case; math stays."""
        unwrapped = unwrap_text(answer)
        if unwrapped != answer.strip() and not _WORDY.match(unwrapped):
            return answer.strip() or None  # \text{(C)} or \mathrm{5 cm}: math as written
        word = _YES_NO.get(unwrapped.lower().rstrip(".!"))
        return word or unwrapped or None

    def from_program(self, answer: Optional[str]) -> Optional[str]:
        return answer

    def gold(self, raw: Any) -> Optional[str]:
        if raw is None or isinstance(raw, bool):
            return None
        return extract_gold(str(raw)) or None

    def shown(self, answer: Optional[str]) -> str:
        """The answer as a terminal shows it."""
        return answer if answer is not None else "(no answer)"

    def describe(self, answer: Optional[str]) -> dict[str, Any]:
        """What ``--json`` adds about the question's form and the answer (nothing for free answers)."""
        return {}


FREE = FreeForm()


@dataclass(frozen=True)
class ChoiceForm(FreeForm):
    """A multiple-choice question: answers are the letters of its options."""

    question: Optional[Question] = None
    kind = "choice"
    answer_cue = "\n\nTherefore, the final answer is $\\boxed{"

    @property
    def choices(self) -> tuple[str, ...]:
        return self.question.choices if self.question is not None else ()

    @property
    def letters(self) -> str:
        return self.question.letters if self.question is not None else ""

    def extract(self, text: str) -> Optional[str]:
        """The letter a solution gives: its last box, else its last "answer is (B)" phrase, else a
        last line that is an option (``**B**``, ``B) 5 cents``). A chain that was cut off while
        weighing the options ("Option D: ...", numbers in passing) gives none."""
        boxed = last_boxed(text)
        if boxed is not None:
            return self.letter_of(boxed)
        for match in reversed(list(_ANSWER_LETTER.finditer(text))):
            letter = next(group for group in match.groups() if group).upper()
            if letter in self.letters:
                return letter
        phrase = answer_phrase(text)
        found = self.letter_of(phrase) if phrase is not None else None
        if found is not None:
            return found
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        return self.letter_of(lines[-1], strict=True) if lines else None

    def letter_of(self, answer: str, *, strict: bool = False) -> Optional[str]:
        """The option ``answer`` names: its letter (``B``, ``(B)``, ``**B**``, ``B) 5 cents``) or its
        text written out; None when it names none of them. ``strict``: a letter followed by text
        counts only when the text is that option's (a line of reasoning is not an answer)."""
        answer = unwrap_text(answer.strip()).strip().strip("$").strip()
        if not answer:
            return None
        alone = _LETTER_ALONE.match(answer)
        if alone is not None:
            letter = alone.group(1).upper()
            return letter if letter in self.letters else None
        then_text = _LETTER_THEN_TEXT.match(answer)
        if then_text is not None and then_text.group(1).isupper() and then_text.group(1) in self.letters:
            letter = then_text.group(1)
            named = self._names(then_text.group(2))
            # "B) 5 cents" names B; "B) 10 cents" when 10 cents is A contradicts itself: no answer
            if named is None:
                return None if strict else letter
            return letter if self.letters[named] == letter else None
        index = self._names(answer, whole=strict)
        return self.letters[index] if index is not None else None

    def _names(self, text: str, *, whole: bool = False) -> Optional[int]:
        """The option whose text ``text`` is (after normalisation), or (unless ``whole``) the one and
        only option it holds in full; None when there is no such single option."""
        wanted = normalise_text(text)
        if not wanted:
            return None
        options = [normalise_text(choice) for choice in self.choices]
        exact = [i for i, option in enumerate(options) if option and option == wanted]
        if len(exact) == 1 or whole:
            return exact[0] if len(exact) == 1 else None
        value = _number(wanted)
        if value is not None:
            same = [i for i, option in enumerate(options) if _number(option) == value]
            if len(same) == 1:
                return same[0]
        held = [i for i, option in enumerate(options) if option and _contains_words(wanted, option)]
        return held[0] if len(held) == 1 else None

    def from_program(self, answer: Optional[str]) -> Optional[str]:
        """A program printed a letter, an option's text or a value: the option it names, a value
        going to the option nearest to it (within 2%), options written as expressions
        (``7(√3 – 1)``) by their value."""
        if answer is None:
            return None
        named = self.letter_of(answer)
        if named is not None:
            return named
        value = _number(answer)
        if value is None:
            return None
        best: Optional[tuple[float, int]] = None
        for i, choice in enumerate(self.choices):
            option = option_value(choice)  # 7(√3 – 1), 1500pi, 2^10, 12 km
            if option is None:
                option = _number(normalise_text(choice))
            if option is None:
                continue
            error = abs(value - option) / max(abs(option), 1e-9)
            if error <= _NEAREST_TOLERANCE and (best is None or error < best[0]):
                best = (error, i)
        return self.letters[best[1]] if best is not None else None

    def gold(self, raw: Any) -> Optional[str]:
        """The gold option as a letter: an index (``2``), a letter (``"C"``, ``"(C)"``) or the
        option's text."""
        if raw is None or isinstance(raw, bool):
            return None
        if isinstance(raw, int):
            return self.letters[raw] if 0 <= raw < len(self.letters) else None
        return self.letter_of(str(raw))

    def shown(self, answer: Optional[str]) -> str:
        if answer is None or self.question is None:
            return "(no answer)"
        return self.question.labelled(answer)

    def describe(self, answer: Optional[str]) -> dict[str, Any]:
        index = self.letters.find(answer) if answer and len(answer) == 1 else -1
        return {
            "choices": self.question.choices_dict() if self.question is not None else [],
            "choice": {"letter": answer, "text": self.choices[index]} if index >= 0 else None,
        }


def form_of(question: Question) -> FreeForm:
    """The answer form a question takes."""
    return ChoiceForm(question) if question.choices else FREE


def valued_as_expressions(choices: Sequence[str]) -> bool:
    """Whether an option of these gets its value from the expression reader (``7(√3 – 1)``,
    ``Rs.1680``, ``4,000``) where the plain number reader gave none or another: the bench keys such
    questions apart, as programs' answers to them map to options differently since that reader."""
    for choice in choices:
        new, old = option_value(choice), _number(normalise_text(choice))
        if new is not None and (old is None or abs(new - old) > 1e-9 * max(1.0, abs(new))):
            return True
    return False


def _number(text: str) -> Optional[float]:
    """The value of a text that is one number or one fraction ``a/b`` (units and currency signs
    around it allowed)."""
    fraction = _FRACTION.fullmatch(text.strip())
    if fraction is not None and int(fraction.group(2)) != 0:
        return int(fraction.group(1)) / int(fraction.group(2))
    numbers = _NUMBER.findall(text)
    if len(numbers) != 1:
        return None
    try:
        return float(Decimal(numbers[0].replace(",", "")))
    except (InvalidOperation, ValueError):
        return None


def _contains_words(text: str, option: str) -> bool:
    """Whether ``option``'s words appear, in order and whole, in ``text`` (at least two words or
    four characters, so that "a" or "no" alone never matches)."""
    if len(option) < 4 and " " not in option:
        return text == option
    return re.search(r"(?:^|\s)" + re.escape(option) + r"(?:\s|$)", text) is not None
