"""Execution as a verifier: recompute the arithmetic claims of model-written text exactly.

``find_claims`` finds every equality it can parse in a solution (``48 / 2 = 24``,
``\\frac{48}{2} = 24``, ``2 \\text{ yogurts/day} \\times 30 \\text{ days} = 60``, ``$1,200 / 4 =
$300``, ``20% * 50 = 10``) and evaluates both sides with a small recursive-descent parser over
``fractions.Fraction``: exact, never ``eval``, and bounded (literals of at most 30 digits, results of
at most 4096 bits, exponents of at most 1000, 32 levels of parentheses, 300 characters a side), so
hostile text such as ``9^9^9^9`` or 10,000 nested parentheses is refused at once. Everything runs in
time linear in the text and never raises.

**What a claim is.** The text is normalised (LaTeX, unicode operators, markdown, currency,
thousands separators, unit words) and cut into *runs*: maximal stretches of digits, operators,
parentheses, ``%``, ``=`` and blanks. A run's pieces between ``=`` signs are its sides; each pair of
neighbouring sides is one link of a chain (``2 + 3 = 5 = 5`` has the links ``2 + 3 = 5`` and
``5 = 5``). A link is a claim when its *left* side is a computation (it has an operator) and both
sides evaluate to numbers. A bare number on the left is skipped: it is mostly a label
(``Step 2 = 5 + 3``, ``Pay: 40 hours = 40 hours * $10/hour``), and a variable on the left leaves
nothing (``x = 5``, ``y = 3 * 4``). Being conservative is the rule throughout, as a claim wrongly
marked false is worse than one not checked:

- a side glued to a word or symbol (``2x + 3 = 7``, ``= 5x``, ``\\sqrt{16} + 1 = 5``), one that
  starts with an operator (``x - 3 = 5`` leaves ``- 3 = 5``), one right after a word that makes it
  part of a larger phrase (``half of 10 + 4``, ``3 times 4 + 2``), or right before a multiplier
  word (``= 3 million``) is dropped;
- a unit word between a number and an operator is removed (``3 hours + 1.5 hours = 4.5 hours``,
  ``10/hour``, ``units per floor``), but a sum of different units (``1 hour + 30 minutes``) is
  refused, and a link whose sides carry different units (``2 hours * 2 = 240 minutes``) is skipped;
  a single letter is never a unit (it is a variable), nor is a word such as "of", "times" or "pi",
  and dozens are never added to anything but dozens (``2 dozen + 6``);
- ``a = b = c`` where ``b`` starts with the value of ``a`` (``2 * 3 = 6 * 4 = 24``) is read as a
  running computation: ``2 * 3 = 6`` and ``6 * 4 = 24`` are checked, and such a continued side may
  also be read left to right (``3 * 4 = 12 + 2 * 5 = 70``);
- ``%`` is read both ways, as hundredths and as a bare number (``0.25 * 100 = 25%`` and
  ``20/100 = 20%`` both hold); a claim holds when one reading makes it hold;
- ``≈``, ``≠``, ``<``, ``>``, ``\\approx`` are not equalities: they end a chain;
- ``1 \\frac{2}{3}`` is the mixed number 1 + 2/3; ``3 x 4`` and ``3x4`` are products; ``**`` is
  markdown, never a power; list markers and bullets are not minus signs; a line that starts with
  ``=`` continues the line before it (``Total = $400 + $12`` / ``= $412``).

**Rounding.** A written number may be rounded. When one side is a bare number with d decimals, the
claim holds within half a unit of its last place (inclusive: ``10 / 3 = 3.33``, ``1/8 = 0.13``, and
``1/3 = 0.33`` hold; ``10/3 = 3.4`` does not). A bare integer must be exact when the other side is
an exact integer; when the other side is not (``10/3 = 3``), within half a unit, *exclusive*: a
result that is exactly halfway (``7/2 = 4``, ``7/2 = 3``) does not hold, since an integer written as
the value of x.5 is more often a slip (or a ceiling/floor that "=" does not mean) than rounding.
Decimals on the computing side that look rounded (two places or more, last digit neither 0 nor 5:
``0.33``, ``3.33``, ``1.714``) may be rounded intermediate results, so their half-unit uncertainty
is carried through the computation (interval arithmetic): ``1/3 = 0.33`` then
``0.33 * 300 = 100`` holds (99 ± 1.5). ``0.25``, ``19.50`` or ``1.60`` are taken as exact: treating
them as rounded too would let ``19.50 * 0.25 = 4.90`` pass. A tiny relative
epsilon (1e-12) is added to the inclusive comparisons only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, NamedTuple, Optional, Sequence

MAX_DIGITS = 30  # digits in one literal
MAX_BITS = 4096  # bits of any numerator or denominator met while evaluating
MAX_EXPONENT = 1000
MAX_DEPTH = 32  # nested parentheses
MAX_SIDE_CHARS = 300  # characters of one side of an equality
_EPSILON = Fraction(1, 10**12)  # relative, for the inclusive rounding comparisons
_COMPOSITE = "?"  # the unit of a product or quotient of units: not compared


@dataclass(frozen=True)
class Claim:
    """One checked equality. ``left`` and ``right`` are the normalised sides (``\\frac{48}{2}``
    reads ``((48)/(2))``); the values are those of the reading that was compared."""

    text: str
    left: str
    right: str
    holds: bool
    left_value: Fraction
    right_value: Fraction


def find_claims(text: str) -> list[Claim]:
    """Every arithmetic equality in ``text`` that can be parsed, checked (see the module docstring)."""
    if not isinstance(text, str) or "=" not in text:
        return []
    units: list[tuple[str, str]] = []
    normal = _normalise(text, units)
    claims: list[Claim] = []
    for match in _RUN.finditer(normal):
        if "=" in match.group():
            claims += _run_claims(normal, match.start(), match.end(), units)
    return claims


def check_steps(steps: Sequence[str]) -> list[float]:
    """Per step k, the fraction of the claims in steps 1..k that hold (1.0 until a claim is seen).

    Cumulative, so that every aggregation reads it sensibly: ``last`` is the whole solution's
    fraction, ``min`` the worst prefix and ``prod`` falls with each step after a mistake; and beam
    search, which scores only the last step of each partial solution, still sees an error made in
    an earlier step.
    """
    scores: list[float] = []
    held = seen = 0
    for step in steps:
        claims = find_claims(step)
        held += sum(claim.holds for claim in claims)
        seen += len(claims)
        scores.append(held / seen if seen else 1.0)
    return scores


# --- normalisation ---------------------------------------------------------------------------------

# A run: digits, operators, parentheses, %, =, blanks, a decimal point before a digit, unit markers.
_RUN = re.compile(r"(?:[0-9+\-*/^()%= \t]|\.(?=\d)|\ue000\d+\ue001)+")
_UNIT_MARK = re.compile(r"\ue000(\d+)\ue001")

_FRACS = frozenset({"frac", "dfrac", "tfrac", "cfrac"})
# Commands whose argument is read as plain text ("\text{ apples}", "\boxed{24}").
_TRANSPARENT = frozenset({
    "text", "textrm", "textbf", "textit", "textnormal", "textsf", "texttt", "mathrm", "mathbf",
    "mathit", "mathsf", "mathtt", "mathnormal", "mbox", "hbox", "boxed", "fbox", "operatorname",
    "emph", "bm", "boldsymbol", "underline",
})  # fmt: skip
_IGNORED = frozenset({"displaystyle", "textstyle", "scriptstyle", "limits", "nolimits", "hfill", "quad"})

_LATEX_SUBS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\\\\", "\n"),  # a LaTeX line break
        (r"\\\$", ""),
        (r"\\%", "%"),
        (r"\{,\}", ","),  # 1{,}200
        (r"(?<=\d)\\,(?=\d{3}(?!\d))", ""),  # 1\,200
        (r"\\[,;:! ]|~", " "),
        (r"\\[\[\]()]|&", " "),  # math delimiters, alignment
        (r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)(?![A-Za-z])", ""),
        (r"\\(?:times|cdot|ast)(?![A-Za-z])", "*"),
        (r"\\div(?![A-Za-z])", "/"),
        (r"\\qquad(?![A-Za-z])|\\quad(?![A-Za-z])", ";"),
        (r"\\[dtc]?frac[ \t]*(\d)[ \t]*(\d)", r"\\frac{\1}{\2}"),  # \frac12
        (r"(?<![\d.])(\d+)[ \t]*\\[dtc]?frac(?![A-Za-z])", r"\\mixed{\1}"),  # 2\frac{1}{2}: 2 + 1/2
        (r"(\d)[ \t]*\\[dtc]?frac(?![A-Za-z])", r"\1@"),  # 2.5\frac{1}{2}: refused
    )
)

_UNICODE = str.maketrans({
    "×": "*", "\u2715": "*", "\u22c5": "*", "\u00b7": "*", "\u2219": "*", "\u2217": "*",
    "÷": "/", "\u2215": "/", "\u2212": "-", "–": "-", "²": "^2", "³": "^3", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2002": " ",
    "\u2003": " ", "\u2007": " ", "\u2008": " ", "\u200a": " ", "\u200b": "", "\uff1d": "=",
    "\ue000": "@", "\ue001": "@",  # the unit markers of _strip_units
})  # fmt: skip
_MARKDOWN = re.compile(r"\*\*|__|`")
_LIST_MARKER = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+", re.MULTILINE)
_CONTINUED_LINE = re.compile(r"\n(?=[ \t]*=)")  # "Total = 400 + 12\n= 412": one line
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TIMES_X = re.compile(r"(?<=[\d)])( ?)x\1(?=[\d(])")  # 3x4, 3 x 4

# Words that make an adjacent number part of a larger phrase ("half of 10 + 4", "= 3 times 4").
_BEFORE_WORDS = frozenset({
    "of", "times", "plus", "minus", "by", "over", "per", "half", "twice", "double", "triple",
    "thrice", "than", "squared", "cubed", "root", "sqrt", "pi", "into", "divided", "multiplied",
    "add", "subtract", "multiply", "divide",
})  # fmt: skip
_AFTER_WORDS = frozenset({
    "times", "plus", "minus", "over", "of", "divided", "multiplied", "squared", "cubed", "percent",
    "percentage", "hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion",
    "billions", "trillion", "pi", "half", "halves", "third", "thirds",
    "quarter", "quarters", "fourths", "fifths", "tenths", "hundredths", "thousandths", "more",
    "less", "fewer",
})  # fmt: skip
# Words that are never taken for a unit.
_NOT_UNITS = _BEFORE_WORDS | _AFTER_WORDS | frozenset({
    "and", "or", "to", "is", "are", "was", "were", "be", "been", "equals", "equal", "at", "in",
    "on", "for", "from", "with", "the", "an", "so", "then", "that", "this", "which", "gives",
    "makes", "yields", "leaves", "left", "each", "every", "if", "as", "out", "up", "st", "nd",
    "rd", "th", "log", "ln", "sin", "cos", "tan", "exp", "mod", "max", "min", "abs", "power",
    "square", "cube", "pct", "we", "he", "she", "it", "they", "you", "not", "no", "all", "after",
    "before", "when", "total", "sum", "product", "difference", "quotient", "remaining", "new",
    "our", "his", "her", "their", "its", "now", "here", "there", "step", "because", "since",
    "but", "therefore", "thus", "hence", "meaning", "where", "while", "until", "also", "only",
})  # fmt: skip

_NUMBER_END = re.compile(r"\d(?![\d.,])%?")
_UNIT_HEAD = re.compile(r"(?:[ \t]+|[ \t]*(/)[ \t]*)([A-Za-z]+)")
_UNIT_SLASH = re.compile(r"[ \t]*/[ \t]*([A-Za-z]+)")
_UNIT_PER = re.compile(r"[ \t]+per[ \t]+([A-Za-z]+)")
_IRREGULAR = {"feet": "foot", "people": "person", "children": "child", "men": "man", "women": "woman"}


def _normalise(text: str, units: list[tuple[str, str]]) -> str:
    if "\\" in text or "{" in text:
        for pattern, replacement in _LATEX_SUBS:
            text = pattern.sub(replacement, text)
        text = _braces(text)
    text = text.translate(_UNICODE)
    text = _MARKDOWN.sub(" ", text)
    text = _LIST_MARKER.sub(" ", text)
    text = text.replace("$", "").replace("==", "=")
    text = _CONTINUED_LINE.sub(" ", text)
    text = _THOUSANDS.sub("", text)
    text = _TIMES_X.sub("*", text)
    return _strip_units(text, units)


# What closes each argument of \frac{a}{b} -> ((a)/(b)) and \mixed{w}{a}{b} -> ((w)+((a)/(b))).
_NEXT_ARGUMENT = {
    "numerator": ("denominator", ")/("),
    "whole": ("mixed numerator", ")+(("),
    "mixed numerator": ("mixed denominator", ")/("),
}
_LAST_ARGUMENT = {"denominator": "))", "mixed denominator": ")))"}


def _braces(text: str) -> str:
    """``\\frac{a}{b}`` -> ``((a)/(b))``, ``\\text{..}`` -> its content, other braces -> parentheses,
    any other command -> ``@`` (which glues to what follows: a side next to it is dropped). One pass
    with an explicit stack, so any nesting costs linear time."""
    out: list[str] = []
    stack: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            j = i + 1
            while j < n and text[j].isascii() and text[j].isalpha():
                j += 1
            name = text[i + 1 : j]
            if not name:  # "\" then another character
                out.append("@")
                i = min(j + 1, n)
                continue
            k = j
            while k < n and text[k] in " \t":
                k += 1
            brace = k < n and text[k] == "{"
            if name in _FRACS and brace:
                stack.append("numerator")
                out.append("((")
                i = k + 1
            elif name == "mixed" and brace:  # made by _LATEX_SUBS from "2\frac{1}{2}"
                stack.append("whole")
                out.append("((")
                i = k + 1
            elif name in _TRANSPARENT and brace:
                stack.append("text")
                out.append(" ")
                i = k + 1
            elif name in _TRANSPARENT or name in _IGNORED:
                out.append(" ")
                i = j
            else:
                out.append("@")
                i = j
            continue
        if c == "{":
            stack.append("group")
            out.append("(")
        elif c == "}":
            kind = stack.pop() if stack else "stray"
            if kind in _NEXT_ARGUMENT:
                k = i + 1
                while k < n and text[k] in " \t":
                    k += 1
                if k < n and text[k] == "{":
                    following, between = _NEXT_ARGUMENT[kind]
                    stack.append(following)
                    out.append(between)
                    i = k + 1
                    continue
                out.append(")@")
            elif kind in _LAST_ARGUMENT:
                out.append(_LAST_ARGUMENT[kind])
            elif kind == "text":
                out.append(" ")
            elif kind == "group":
                out.append(")")
            else:
                out.append("@")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _unit_name(word: str) -> str:
    word = word.lower()
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh")):
        return word[:-2]
    if len(word) > 2 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _unit_word(word: str) -> bool:
    return len(word) >= 2 and word.lower() not in _NOT_UNITS


def _unit_phrase(text: str, start: int) -> Optional[tuple[str, int, bool]]:
    """The unit right after a number ending at ``start``: (name, end, whether it is a rate such
    as ``/hour``), or None. A unit is one word of two letters or more (not a word of _NOT_UNITS),
    then any number of ``/ word`` or ``per word``; names are singular and lower case."""
    n = len(text)
    head = _UNIT_HEAD.match(text, start)
    if head is None or not _unit_word(head.group(2)):
        return None
    end = head.end()
    if end < n and (text[end].isalnum() or text[end] == "_"):
        return None
    rate = head.group(1) is not None
    words = [("/" if rate else "") + _unit_name(head.group(2))]
    while True:
        more = _UNIT_SLASH.match(text, end) or _UNIT_PER.match(text, end)
        if more is None or not _unit_word(more.group(1)):
            break
        if more.end() < n and (text[more.end()].isalnum() or text[more.end()] == "_"):
            break
        words.append(_unit_name(more.group(1)))
        end = more.end()
    return "/".join(words), end, rate


def _strip_units(text: str, units: list[tuple[str, str]]) -> str:
    """Replace a unit between a number and an operator, ``=`` or ``)`` by a marker that the
    tokenizer attaches to the number (``3 hours + 1.5 hours = ...``, ``8 units per floor = ...``),
    and a rate (``10/hour``, ``82.5/year``) wherever it is. ``units`` gets (name, text) per marker."""
    out: list[str] = []
    last = 0
    n = len(text)
    for match in _NUMBER_END.finditer(text):
        start = match.end()
        if start < last:
            continue
        phrase = _unit_phrase(text, start)
        if phrase is None:
            continue
        name, end, rate = phrase
        k = end
        while k < n and text[k] in " \t":
            k += 1
        if not rate and (k >= n or text[k] not in "+-*/^=)"):
            continue
        out.append(text[last:start])
        out.append(f"\ue000{len(units)}\ue001")
        units.append((name, " ".join(text[start:end].split())))
        last = end
    out.append(text[last:])
    return "".join(out)


# --- runs, sides and links -------------------------------------------------------------------------


def _sticky(c: str) -> bool:
    """Whether a side touching ``c`` is glued to it (part of a word, a command or a symbol)."""
    if c.isalnum() or c in "@_\\#&":
        return True
    return ord(c) > 127 and not c.isspace() and unicodedata.category(c)[0] in "LNS"


def _word_before(text: str, index: int) -> Optional[str]:
    """The word (letters) ending just before ``index``, blanks skipped; None if something else is
    there. Looks back a bounded distance."""
    i = index
    stop = max(0, index - 40)
    while i > stop and text[i - 1] in " \t":
        i -= 1
    j = i
    while j > stop and text[j - 1].isascii() and text[j - 1].isalpha():
        j -= 1
    return text[j:i].lower() if j < i else None


def _word_after(text: str, index: int) -> Optional[str]:
    n = len(text)
    stop = min(n, index + 40)
    i = index
    while i < stop and text[i] in " \t":
        i += 1
    j = i
    while j < stop and text[j].isascii() and text[j].isalpha():
        j += 1
    return text[i:j].lower() if i < j else None


def _run_claims(text: str, start: int, end: int, units: list[tuple[str, str]]) -> list[Claim]:
    run = text[start:end]
    pieces = run.split("=")
    prev = text[start - 1] if start > 0 else "\n"
    glued_left = not run[0].isspace() and (
        _sticky(prev) or (prev in ".:,/" and start >= 2 and text[start - 2].isdigit())
    )
    word_before = _word_before(text, start)
    after = text[end] if end < len(text) else "\n"
    glued_right = not run[-1].isspace() and (
        _sticky(after) or (after in ".:," and end + 1 < len(text) and text[end + 1].isdigit())
    )
    word_after = _word_after(text, end)
    trailing = _unit_phrase(text, start + len(run.rstrip(" \t")))

    sides: list[Optional[_Side]] = []
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        body = piece.strip(" \t")
        if len(body) > MAX_SIDE_CHARS:
            sides.append(None)
            continue
        if index == 0:  # "(since 1200 - 1000 = 200)": the prose's parentheses
            while body.startswith("(") and body.count("(") > body.count(")"):
                body = body[1:].lstrip(" \t")
        if index == last:
            while body.endswith(")") and body.count(")") > body.count("("):
                body = body[:-1].rstrip(" \t")
        side = _side(body, units) if body else None
        if side is not None and index == 0 and not _clean_start(body, glued_left, word_before):
            side = None
        if side is not None and index == last:
            if glued_right or word_after in _AFTER_WORDS:
                side = None
            elif side.unit is None and trailing is not None:
                side.unit = trailing[0]  # "= 4.5 hours": compared with the left side's unit
        sides.append(side)

    claims: list[Claim] = []
    continued = [False] * len(sides)
    for i in range(len(sides) - 1):
        left, right = sides[i], sides[i + 1]
        if left is None or right is None or not left.has_op:
            continue
        if not _units_agree(left.unit, right.unit):
            continue
        verdict = _compare(left, right, continued[i])
        if verdict is not None:
            claims.append(_claim(left, right.text, True, verdict))
            continue
        lead = right.lead
        if lead is not None:
            verdict = _compare(left, lead, continued[i])
            if verdict is not None:  # "2 * 3 = 6 * 4 = 24": a running computation
                claims.append(_claim(left, lead.text, True, verdict))
                continued[i + 1] = True
                continue
        claims.append(_claim(left, right.text, False, (left.value(True), right.value(True))))
    return claims


def _clean_start(body: str, glued_left: bool, word_before: Optional[str]) -> bool:
    """Whether the first side of a run stands on its own: not glued to what precedes it, not after
    a word such as "of" or "times", not starting with an operator, and starting with a minus only
    as a negative number after no word ("x - 3 = 5" and the bullet "- 3 + 5" are not claims)."""
    if glued_left or word_before in _BEFORE_WORDS or body[0] in "+*/^%)":
        return False
    if body[0] == "-":
        return word_before is None and len(body) > 1 and body[1] in "0123456789("
    return True


def _claim(left: _Side, right_text: str, holds: bool, values: tuple[_Val, _Val]) -> Claim:
    return Claim(f"{left.text} = {right_text}", left.text, right_text, holds, values[0].v, values[1].v)


def _units_agree(left: Optional[str], right: Optional[str]) -> bool:
    if left is None or right is None or _COMPOSITE in (left, right):
        return True
    return left == right


def _compare(left: _Side, right: _Side, left_continued: bool) -> Optional[tuple[_Val, _Val]]:
    """The values under which ``left = right`` holds (each reading of ``%``, and left to right for
    a continued side), or None."""
    readings = (True, False) if left.percent or right.percent else (True,)
    for percent in readings:
        candidates = [left.value(percent)]
        if left_continued:
            ltr = left.left_to_right(percent)
            if ltr is not None:
                candidates.append(ltr)
        r = right.value(percent)
        for lv in candidates:
            if _agrees(lv, left.literal, r, right.literal, percent):
                return lv, r
    return None


def _agrees(lv: _Val, l_lit: Optional[_Literal], rv: _Val, r_lit: Optional[_Literal], percent: bool) -> bool:
    if r_lit is not None:
        written, other, literal = rv, lv, r_lit
    elif l_lit is not None:
        written, other, literal = lv, rv, l_lit
    else:
        return abs(lv.v - rv.v) <= lv.e + rv.e
    diff = abs(other.v - written.v)
    scale = Fraction(1, 100) if (literal.percent and percent) else Fraction(1)
    if literal.decimals > 0:
        half = Fraction(1, 2 * 10**literal.decimals) * scale
        return diff <= half + other.e + _EPSILON * max(abs(other.v), abs(written.v))
    if other.v.denominator == 1 and other.e == 0:
        return diff == 0
    return diff < Fraction(1, 2) * scale + other.e


# --- sides: tokens, parser and exact values ---------------------------------------------------------


class _Refused(Exception):
    """Not a number this checker will vouch for (too big, division by zero, malformed)."""


class _Val(NamedTuple):
    v: Fraction  # the value
    e: Fraction  # a bound on its error, from rounded decimal inputs
    unit: Optional[str] = None


class _Literal(NamedTuple):
    text: str
    decimals: int
    percent: bool


class _Token(NamedTuple):
    kind: str  # "num", "op" (+ - * / ^ ( ) %)
    text: str
    spaced: bool  # blank before it
    unit: Optional[str] = None


_TOKEN = re.compile(r"([ \t]*)(?:(\d+(?:\.\d+)?|\.\d+)|([-+*/^()%])|\ue000(\d+)\ue001)")


def _tokens(body: str, units: list[tuple[str, str]]) -> Optional[list[_Token]]:
    if len(body) > MAX_SIDE_CHARS:
        return None
    tokens: list[_Token] = []
    pos = 0
    while pos < len(body):
        match = _TOKEN.match(body, pos)
        if match is None:
            return None
        spaced = bool(match.group(1))
        if match.group(2) is not None:
            if len(match.group(2).replace(".", "")) > MAX_DIGITS:
                return None
            tokens.append(_Token("num", match.group(2), spaced))
        elif match.group(3) is not None:
            tokens.append(_Token("op", match.group(3), spaced))
        else:
            index = int(match.group(4))
            if (
                index >= len(units)
                or not tokens
                or tokens[-1].unit is not None
                or not (tokens[-1].kind == "num" or tokens[-1].text == "%")
            ):
                return None
            tokens[-1] = tokens[-1]._replace(unit=units[index][0])
        pos = match.end()
    return tokens


class _Side:
    """One side of an equality: its text, its value under each reading of ``%`` (both computed when
    it is made, so a side exists only where every reading is a number), and what a link needs."""

    def __init__(self, text: str, tokens: list[_Token], values: dict[bool, _Val], has_op: bool) -> None:
        self.text = text
        self.tokens = tokens
        self.values = values
        self.has_op = has_op
        self.percent = False in values
        self.literal = _literal(tokens)
        self.unit = values[True].unit
        self.lead: Optional[_Side] = None
        self._ltr: dict[bool, Optional[_Val]] = {}

    def value(self, percent: bool) -> _Val:
        return self.values.get(percent, self.values[True])

    def left_to_right(self, percent: bool) -> Optional[_Val]:
        """The value with + - * / applied left to right (a continued side of a running chain)."""
        if not self.has_op:
            return None
        if percent not in self._ltr:
            self._ltr[percent] = _evaluate(self.tokens, percent, True)[0]
        return self._ltr[percent]


def _evaluate(tokens: list[_Token], percent: bool, ltr: bool) -> tuple[Optional[_Val], int]:
    """(value or None where refused, number of binary operators)."""
    parser = _Parser(tokens, percent, ltr)
    try:
        return parser.parse(), parser.binary_ops
    except (_Refused, ZeroDivisionError, OverflowError, ValueError):
        return None, parser.binary_ops


def _side(body: str, units: list[tuple[str, str]]) -> Optional[_Side]:
    tokens = _tokens(body, units)
    if not tokens:
        return None
    value, binary_ops = _evaluate(tokens, True, False)
    if value is None:
        return None
    values = {True: value}
    if any(t.text == "%" for t in tokens):
        other, _ = _evaluate(tokens, False, False)
        if other is None:
            return None
        values[False] = other
    text = _UNIT_MARK.sub(lambda m: _unit_text(units[int(m.group(1))][1]), body)
    side = _Side(text, tokens, values, binary_ops > 0)
    # "6 * 4" after "2 * 3 =": its leading number, when a binary operator follows it
    if len(tokens) > 2 and tokens[0].kind == "num" and tokens[1].kind == "op" and tokens[1].text in "+-*/":
        lead, _ = _evaluate(tokens[:1], True, False)
        if lead is not None:
            side.lead = _Side(tokens[0].text, tokens[:1], {True: lead}, False)
    return side


def _unit_text(raw: str) -> str:
    return raw if raw.startswith("/") else " " + raw


def _literal(tokens: list[_Token]) -> Optional[_Literal]:
    """The written number when the side is one (signed, maybe a percentage), else None."""
    rest = tokens[1:] if tokens and tokens[0].text in "+-" and tokens[0].kind == "op" else tokens
    if not rest or rest[0].kind != "num":
        return None
    percent = len(rest) == 2 and rest[1].text == "%"
    if len(rest) > 1 and not percent:
        return None
    number = rest[0].text
    decimals = len(number) - number.index(".") - 1 if "." in number else 0
    return _Literal("".join(t.text for t in tokens), decimals, percent)


def _rounding_error(number: str) -> Fraction:
    """Half a unit of the last place of a decimal that looks rounded (two places or more, the last
    digit neither 0 nor 5: ``0.33``, ``1.714``), else 0 (``0.25``, ``19.50``, ``1.5`` are exact)."""
    if "." not in number:
        return Fraction(0)
    decimals = len(number) - number.index(".") - 1
    if decimals < 2 or number[-1] in "05":
        return Fraction(0)
    return Fraction(1, 2 * 10**decimals)


def _checked(x: Fraction) -> Fraction:
    if x.numerator.bit_length() > MAX_BITS or x.denominator.bit_length() > MAX_BITS:
        raise _Refused
    return x


def _add(a: _Val, b: _Val, sign: int) -> _Val:
    if a.unit is not None and b.unit is not None and (a.unit != b.unit or a.unit == _COMPOSITE):
        raise _Refused  # 1 hour + 30 minutes
    if (a.unit == "dozen") != (b.unit == "dozen"):
        raise _Refused  # 2 dozen + 6: a count of dozens, or 24 + 6?
    return _Val(_checked(a.v + sign * b.v), _checked(a.e + b.e), a.unit if a.unit is not None else b.unit)


def _mul(a: _Val, b: _Val) -> _Val:
    unit = a.unit if b.unit is None else b.unit if a.unit is None else _COMPOSITE
    e = abs(a.v) * b.e + abs(b.v) * a.e + a.e * b.e
    return _Val(_checked(a.v * b.v), _checked(e), unit)


def _div(a: _Val, b: _Val) -> _Val:
    if b.v == 0 or b.e >= abs(b.v):
        raise _Refused
    if b.unit is None:
        unit = a.unit
    else:
        unit = None if a.unit == b.unit else _COMPOSITE
    m = abs(b.v)
    e = (abs(a.v) * b.e + m * a.e) / (m * (m - b.e))
    return _Val(_checked(a.v / b.v), _checked(e), unit)


def _pow(base: _Val, exponent: _Val) -> _Val:
    if exponent.e != 0 or exponent.v.denominator != 1 or exponent.unit is not None:
        raise _Refused
    n = exponent.v.numerator
    size = max(base.v.numerator.bit_length(), base.v.denominator.bit_length(), 1)
    if abs(n) > MAX_EXPONENT or size * abs(n) > MAX_BITS or (base.v == 0 and n < 0):
        raise _Refused
    if base.e != 0 and n < 0:
        raise _Refused
    unit = None if base.unit is None or n == 1 else _COMPOSITE
    value = base.v**n
    e = Fraction(0)
    if base.e != 0 and n > 0:
        m = abs(base.v)
        e = (m + base.e) ** n - m**n
    return _Val(_checked(Fraction(value)), _checked(e), base.unit if n == 1 else unit)


def _neg(a: _Val) -> _Val:
    return _Val(-a.v, a.e, a.unit)


class _Parser:
    """Recursive descent over the tokens of one side; recursion only through parentheses, whose
    depth is bounded, so deep nesting is refused before the stack is.

    expr := term (("+" | "-") term)* ; term := unary (("*" | "/") unary | implicit "(")* ;
    unary := ("+" | "-")* power ; power := postfix ("^" ("+" | "-")* postfix)* (right-assoc) ;
    postfix := primary "%"* ; primary := number | "(" expr ")".
    With ``ltr`` (a continued side of a running chain) + - * / are applied left to right.
    """

    def __init__(self, tokens: list[_Token], percent: bool, ltr: bool) -> None:
        self.tokens = tokens
        self.pos = 0
        self.percent = percent
        self.ltr = ltr
        self.depth = 0
        self.binary_ops = 0

    def parse(self) -> _Val:
        value = self.expr()
        if self.pos != len(self.tokens):
            raise _Refused
        return value

    def peek(self) -> Optional[_Token]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def is_op(self, ops: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "op" and token.text in ops

    def implicit(self) -> bool:
        """``2(3 + 4)`` or ``(1 + 2)(3 + 4)``: a "(" right after a number or ")", no blank between."""
        token = self.peek()
        if token is None or token.text != "(" or token.spaced or self.pos == 0:
            return False
        before = self.tokens[self.pos - 1]
        return before.kind == "num" or before.text in ")%"

    def expr(self) -> _Val:
        if self.ltr:
            return self.chain()
        value = self.term()
        while self.is_op("+-"):
            sign = 1 if self.tokens[self.pos].text == "+" else -1
            self.pos += 1
            value = _add(value, self.term(), sign)
            self.binary_ops += 1
        return value

    def term(self) -> _Val:
        value = self.unary()
        while True:
            if self.is_op("*/"):
                op = self.tokens[self.pos].text
                self.pos += 1
                other = self.unary()
                value = _mul(value, other) if op == "*" else _div(value, other)
            elif self.implicit():
                value = _mul(value, self.unary())
            else:
                return value
            self.binary_ops += 1

    def chain(self) -> _Val:
        value = self.unary()
        while True:
            if self.is_op("+-*/"):
                op = self.tokens[self.pos].text
                self.pos += 1
                ops: dict[str, Callable[[_Val, _Val], _Val]] = {
                    "+": lambda a, b: _add(a, b, 1),
                    "-": lambda a, b: _add(a, b, -1),
                    "*": _mul,
                    "/": _div,
                }
                value = ops[op](value, self.unary())
            elif self.implicit():
                value = _mul(value, self.unary())
            else:
                return value
            self.binary_ops += 1

    def signs(self) -> int:
        sign, count = 1, 0
        while self.is_op("+-"):
            if self.tokens[self.pos].text == "-":
                sign = -sign
            self.pos += 1
            count += 1
            if count > 2:
                raise _Refused
        return sign

    def unary(self) -> _Val:
        sign = self.signs()
        value = self.power()
        return _neg(value) if sign < 0 else value

    def power(self) -> _Val:
        base = self.postfix()
        exponents: list[tuple[int, _Val]] = []
        while self.is_op("^"):
            self.pos += 1
            sign = self.signs()
            exponents.append((sign, self.postfix()))
            self.binary_ops += 1
        if not exponents:
            return base
        acc: Optional[_Val] = None
        for sign, operand in reversed(exponents):
            value = operand if acc is None else _pow(operand, acc)
            acc = _neg(value) if sign < 0 else value
        assert acc is not None
        return _pow(base, acc)

    def postfix(self) -> _Val:
        value = self.primary()
        while self.is_op("%"):
            unit = self.tokens[self.pos].unit or value.unit
            self.pos += 1
            if self.percent:
                value = _Val(value.v / 100, value.e / 100, unit)
            else:
                value = value._replace(unit=unit)
        return value

    def primary(self) -> _Val:
        token = self.peek()
        if token is None:
            raise _Refused
        if token.kind == "num":
            self.pos += 1
            return _Val(Fraction(token.text), _rounding_error(token.text), token.unit)
        if token.text == "(":
            if self.depth >= MAX_DEPTH:
                raise _Refused
            self.depth += 1
            self.pos += 1
            value = self.expr()
            if not self.is_op(")"):
                raise _Refused
            self.pos += 1
            self.depth -= 1
            return value
        raise _Refused
