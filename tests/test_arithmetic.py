"""The arithmetic checker (tts_cli.grading.arithmetic) and its verifier: every form it reads, what
it skips, rounding, running chains, hostile input, and the verifier's scores."""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tts_cli.grading.arithmetic import Claim, check_steps, find_claims
from tts_cli.verifiers import Verifier, aggregate, available_verifiers, make_verifier
from tts_cli.verifiers.arithmetic import ArithmeticVerifier


def verdicts(text: str) -> list[bool]:
    return [claim.holds for claim in find_claims(text)]


def arithmetic_score(text: str) -> Optional[float]:
    """The fraction of the claims in ``text`` that hold; None where there is none."""
    claims = find_claims(text)
    return sum(claim.holds for claim in claims) / len(claims) if claims else None


# --- what is read, true and false -------------------------------------------------------------------

TRUE_CLAIMS = [
    "48 / 2 = 24",
    "5 + 3 + 2 = 10",
    "12 * 0.5 = 6",
    "2^3 = 8",
    "(3 + 4) * 2 = 14",
    "2(3 + 4) = 14",
    "10 - 4 - 3 = 3",
    "2 + 3 * 4 = 14",
    "-3 + 5 = 2",
    "3 - 5 = -2",
    "2^-1 = 0.5",
    "$1,200 / 4 = $300",
    "1,000,000 / 1,000 = 1,000",
    "$2.50 * 3 = $7.50",
    "20% * 50 = 10",
    "50 * 20% = 10",
    "0.25 * 100 = 25%",  # % read as a bare number
    "20/100 = 20%",  # % read as hundredths
    "100% - 20% = 80%",
    "3 × 4 = 12",
    "12 ÷ 4 = 3",
    "10 \u2212 4 = 6",
    "5² = 25",
    "5 x 3 = 15",
    "5x3 = 15",
    r"3 \times 4 = 12",
    r"3 \cdot 4 = 12",
    r"12 \div 4 = 3",
    r"\frac{48}{2} = 24",
    r"\dfrac{48}{2} = 24",
    r"\tfrac12 * 4 = 2",
    r"\frac{\frac{1}{2}}{2} = 0.25",
    r"\left( 3 + 4 \right) \times 2 = 14",
    r"\$5 \times 0.60 = \$3",
    r"1\,200 / 4 = 300",
    r"1{,}200 / 4 = 300",
    r"2^{10} = 1024",
    r"\left( \frac{12}{20} \right) \times 100 = 60\%",
    r"1 \frac{2}{3} + 2 = 3 \frac{2}{3}",  # mixed numbers
    r"48 / 2 = \boxed{24}",
    "Thus $48/2 = 24$ clips.",
    r"\[ 48 / 2 = 24 \]",
    r"so \( 0.4 \times 200 = 80 \) GB",
    "**48 / 2 = 24**",
    "48 / 2 = **24**",
    "1. 48 / 2 = 24",
    "- 48 / 2 = 24",
    "* 48 / 2 = 24",
    "(48 / 2 = 24)",
    "she will be 200 feet away (since 1200 - 1000 = 200).",
    "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs",
    "5 apples + 3 apples = 8 apples",
    "3 hours + 1.5 hours + 1.5 hours = 6 hours",
    r"2 \text{ yogurts/day} \times 30 \text{ days} = 60 \text{ yogurts}",
    r"15 \text{ floors} \times 8 \text{ units per floor} = 120 \text{ units}",
    r"\frac{160 \text{ GB}}{2 \text{ GB/minute}} = 80 \text{ minutes}",
    r"4 \text{ cartons} \times \$4.00/carton = \$16.00",
    r"\$10.5 - \$93 = -\$82.5/\text{year}",
    "21 dozens * $2/dozen = $42.",
    r"252 \div 12 = 21 \text{ dozens per day}",
    "Total earnings = $400 + $12\n= $412",
    "x &= 3 + 4 \\\\ &= 7",
]


@pytest.mark.parametrize("text", TRUE_CLAIMS)
def test_true_claims_hold(text: str) -> None:
    assert verdicts(text) == [True]


FALSE_CLAIMS = [
    "48 / 2 = 25",
    "5 + 3 + 2 = 11",
    "12 * 0.5 = 5",
    "2^3 = 9",
    "(3 + 4) * 2 = 10",
    "2 + 3 * 4 = 20",
    "$1,200 / 4 = $400",
    "20% * 50 = 15",
    "3 × 4 = 13",
    r"3 \times 4 = 11",
    r"\frac{48}{2} = 12",
    r"\[ 3 \text{ dozen} \times \$68/\text{dozen} = \$174 \]",
    "Total = 204 + 160 + 330 = 794 dollars",
    "3.90 * 1.30 = 5.37",
    "19.50 * 0.25 = 4.90",  # 0.25 and 19.50 are exact, not rounded
    "220 * 220 = 4840",
]


@pytest.mark.parametrize("text", FALSE_CLAIMS)
def test_false_claims_fail(text: str) -> None:
    assert verdicts(text) == [False]


def test_claim_fields() -> None:
    (claim,) = find_claims("So $1,200 / 4 = $300 each.")
    assert claim == Claim("1200 / 4 = 300", "1200 / 4", "300", True, Fraction(300), Fraction(300))
    (claim,) = find_claims(r"\frac{10}{4} = 2")
    assert not claim.holds
    assert (claim.left_value, claim.right_value) == (Fraction(5, 2), Fraction(2))


# --- chains -----------------------------------------------------------------------------------------


def test_chain_checks_each_link_with_a_computation() -> None:
    assert verdicts("2 + 3 = 5 = 5") == [True]  # "5 = 5" compares two bare numbers: not a claim
    assert verdicts("80 + 0.25 * 80 = 80 + 20 = 100") == [True, True]
    assert verdicts("80 + 0.25 * 80 = 80 + 20 = 110") == [True, False]
    assert verdicts("2 * 3 = 6 = 7") == [True]
    assert verdicts(r"\frac{47}{3} - 1 = \frac{47}{3} - \frac{3}{3} = \frac{44}{3}") == [True, True]


def test_sloppy_running_chain() -> None:
    claims = find_claims("2 * 3 = 6 * 4 = 24")
    assert [(c.text, c.holds) for c in claims] == [("2 * 3 = 6", True), ("6 * 4 = 24", True)]
    assert verdicts("2 * 3 = 6 * 4 = 25") == [True, False]
    assert verdicts("16 - 3 = 13 - 4 = 9") == [True, True]
    assert verdicts("2 * 3 = 7 * 4 = 28") == [False, True]  # the first link is wrong either way
    assert verdicts("3 * 4 = 12 + 2 * 5 = 70") == [True, True]  # a continued side read left to right
    assert verdicts("3 * 4 = 12 + 2 * 5 = 22") == [True, True]


def test_lines_are_separate() -> None:
    assert verdicts("48 / 2 = 24\n24 + 3 = 27\n27 * 2 = 50") == [True, True, False]


# --- rounding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ("10 / 3 = 3.33", True),
        ("10 / 3 = 3.3", True),
        ("10 / 3 = 3.333", True),
        ("10 / 3 = 3.34", False),
        ("10 / 3 = 3.4", False),
        ("10/3 = 4", False),
        ("10/3 = 3", True),  # left not an integer: half a unit
        ("1/3 = 0.33", True),
        ("2/3 = 0.67", True),
        ("2/3 = 0.66", False),
        ("1/8 = 0.13", True),  # exactly half a unit of a decimal: inclusive
        ("1/8 = 0.12", True),
        ("7/2 = 4", False),  # exactly half a unit of an integer: exclusive
        ("7/2 = 3", False),
        ("7/2 = 3.5", True),
        ("6 / 2 = 3.0", True),
        ("9 - 1 = 8.00", True),
        ("10 + 1 = 10", False),  # integers on both sides: exact
        ("0.33 * 300 = 100", True),  # 0.33 may be a rounded 1/3: 99 +- 1.5
        ("0.333 * 3000 = 1000", True),
        ("3.33 * 3 = 10", True),
        ("0.25 * 400 = 101", False),
        ("8000 * 1.012 = 8100.8", False),
        ("33.33% * 90 = 30", True),
        ("29 / 8.50 = 3.39", False),
        ("60 / 18 = 3.33", True),
    ],
)
def test_rounding(text: str, holds: bool) -> None:
    assert verdicts(text) == [holds]


# --- what is skipped --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no numbers here",
        "The answer is 24.",
        "x = 5",
        "y = 3 * 4",
        "Step 2 = 5 + 3",
        "Pay: 40 = 40 * 10",
        "15 = 5 + 10",  # a bare number on the left: skipped
        "x + 3 = 7",
        "2x + 3 = 7",
        "x - 3 = 5",
        "300 + x - 23 = 23 - 23",
        "2 * (x + 3) = 10",
        "B + 99 = B - 5",
        "5 + 3 = 8 + x",
        "5 + 3 = 8x",
        "half of 10 + 4 = 9",
        "20% of 50 + 5 = 15",
        "3 times 4 + 2 = 14",
        "2 * 3 = 3 times 2",
        "1.5 * 2 = 3 million",
        "1 + 2 + ... + 10 = 55",
        r"1 + 2 + \cdots + 10 = 55",
        r"\sqrt{16} + 1 = 5",
        r"3 + 4 = 2.5\frac{1}{2}",
        "f(3 + 4 = 8)",
        "10 / 3 ≈ 3",
        "10 / 3 \\approx 3",
        "5 + 3 != 9",
        "5 + 3 >= 9",
        "1 hour + 30 minutes = 90 minutes",  # different units are not added
        "2 hours * 2 = 240 minutes",  # nor compared
        "2 dozen + 6 = 30",
        "5kg + 3kg = 9kg",
        "5 / 0 = 1",
        "2 ** 3 = 8",  # Python's power is not read (** is markdown bold)
        "10:30 + 2 = 12",
        "1,2345 + 1 = 5",
    ],
)
def test_skipped(text: str) -> None:
    assert find_claims(text) == []
    assert arithmetic_score(text) is None


def test_variable_left_side_still_checks_the_rest_of_the_chain() -> None:
    assert verdicts("y = 3 * 4 = 12") == [True]
    assert verdicts(r"x = \frac{162}{18} = 9") == [True]
    assert verdicts("Regular pay for 40 hours = 40 hours * $10/hour = $400") == [True]


# --- hostile input ----------------------------------------------------------------------------------


def quick(text: str) -> list[Claim]:
    started = time.perf_counter()
    claims = find_claims(text)
    assert time.perf_counter() - started < 2.0
    return claims


def test_huge_exponents_are_refused() -> None:
    assert quick("9^9^9^9 = 1") == []
    assert quick("2^100000 = 1") == []
    assert quick("10^4000 * 10^4000 = 1") == []
    assert quick("(2^64)^64 = 1") == []
    assert verdicts("2^64 = 18446744073709551616") == [True]


def test_huge_numbers_are_refused() -> None:
    big = "9" * 10_000
    assert quick(f"{big} + 1 = 1") == []
    assert quick(f"1 + 1 = {big}") == []
    assert quick("1" * 31 + " + 1 = 2") == []
    assert quick(("123456789 * " * 200) + "1 = 5") == []  # too long a side


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    deep = "(" * 10_000 + "1" + ")" * 10_000
    assert quick(f"{deep} + 1 = 2") == []
    assert quick(f"1 + 1 = {deep}") == []
    assert quick("(" * 33 + "1 + 1" + ")" * 33 + " = 2") == []
    assert quick("(" * 20 + "1 + 1" + ")" * 20 + " = 2") != []
    assert quick(r"\frac{" * 5_000 + "1" + "}{2}" * 5_000 + " + 1 = 2") == []
    assert quick("- " * 10_000 + "1 + 1 = 2") == []
    assert quick("2^" * 10_000 + "1 = 2") == []


GARBAGE = {
    "equals": "=" * 100_000,
    "long chain": "1 = " * 20_000,
    "long true chain": "1 + 1 = 2 = " * 5_000,
    "blanks": " " * 100_000 + "=",
    "blanks after a number": "1" + " " * 100_000 + "a + 1 = 2",
    "long word": "a" * 100_000 + " 1 + 1 = 2",
    "long unit": "1 " + "a" * 100_000 + " + 1 = 2",
    "units": "1 apples + " * 20_000 + "1 = 2",
    "rates": "1/hour" * 20_000 + " + 1 = 2",
    "backslashes": "\\" * 100_000 + "1 + 1 = 2",
    "open braces": "{" * 100_000 + "1 + 1 = 2",
    "close braces": "}" * 100_000 + "1 + 1 = 2",
    "open parentheses": "(" * 100_000 + "1 + 1 = 2",
    "close parentheses": "1 + 1 = 2" + ")" * 100_000,
    "thousands": "1,000" * 20_000 + " = 2",
    "marker characters": "\ue000" + "1\ue001 + 1 = 2",
    "a forged marker": "1 \ue0009\ue001 + 1 = 2",
}


@pytest.mark.parametrize("text", list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_is_fast_and_never_raises(text: str) -> None:
    quick(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789+-*/^()%=.,$ x\\{}\nfractimes%")), max_size=200))
def test_never_raises(text: str) -> None:
    for claim in find_claims(text):
        assert isinstance(claim.holds, bool)
    check_steps(text.split("\n"))


def expressions() -> st.SearchStrategy[tuple[str, Fraction]]:
    """Random integer expressions and their exact values."""
    leaf = st.integers(0, 999).map(lambda n: (str(n), Fraction(n)))

    def extend(inner: st.SearchStrategy[tuple[str, Fraction]]) -> st.SearchStrategy[tuple[str, Fraction]]:
        def combine(a: tuple[str, Fraction], op: str, b: tuple[str, Fraction]) -> tuple[str, Fraction]:
            if op == "+":
                return f"({a[0]} + {b[0]})", a[1] + b[1]
            if op == "-":
                return f"({a[0]} - {b[0]})", a[1] - b[1]
            if op == "*":
                return f"({a[0]} * {b[0]})", a[1] * b[1]
            return f"({a[0]} / {b[0]})", a[1] / b[1] if b[1] else Fraction(0)

        return st.builds(combine, inner, st.sampled_from("+-*/"), inner).filter(
            lambda e: "/ 0)" not in e[0] and "/ (" not in e[0]
        )

    return st.recursive(leaf, extend, max_leaves=6)


def fraction_text(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}"


@settings(max_examples=200, deadline=None)
@given(expressions())
def test_random_true_and_false_claims(expression: tuple[str, Fraction]) -> None:
    text, value = expression
    if not any(op in text for op in "+-*/"):
        return
    right = fraction_text(value)
    assert verdicts(f"{text} = {right}") in ([True], [])
    wrong = fraction_text(value + 1)
    assert verdicts(f"{text} = {wrong}") in ([False], [])


# --- per-step scores --------------------------------------------------------------------------------


def test_check_steps_is_cumulative() -> None:
    steps = [
        "First, the eggs per day.",  # no claim yet
        "16 - 3 - 4 = 9 eggs.",  # 1/1
        "9 * 2 = 20 dollars.",  # 1/2: a mistake
        "Nothing to compute here.",  # still 1/2
        "20 + 0 = 20, and 2 * 2 = 4.",  # 3/4
    ]
    assert check_steps(steps) == [1.0, 1.0, 0.5, 0.5, 0.75]
    assert check_steps([]) == []
    assert check_steps(["no math"]) == [1.0]
    scores = check_steps(steps)
    assert aggregate(scores, "last") == arithmetic_score("\n\n".join(steps))
    assert aggregate(scores, "min") == 0.5


def test_arithmetic_score() -> None:
    assert arithmetic_score("48 / 2 = 24 and 24 + 1 = 26") == 0.5
    assert arithmetic_score("48 / 2 = 24") == 1.0
    assert arithmetic_score("nothing") is None


# --- the verifier -----------------------------------------------------------------------------------


def test_verifier_scores() -> None:
    verifier = ArithmeticVerifier()
    checked: Verifier = verifier  # satisfies the protocol
    solutions = [
        ["16 - 3 - 4 = 9", "9 * 2 = 20", "So 20."],
        ["No arithmetic at all."],
        [],
    ]
    assert checked.score("q", solutions) == [[1.0, 0.5, 0.5], [1.0], []]
    assert checked.score("q", solutions, last_only=True) == [[0.5], [1.0], []]
    assert verifier.name == "arithmetic"
    assert verifier.usage.model == "arithmetic"
    assert verifier.usage.flops == 0
    assert verifier.usage.prompt_tokens == verifier.usage.generated_tokens == 0
    assert verifier.seconds > 0


def test_registry() -> None:
    verifier = make_verifier("arithmetic", None)
    assert isinstance(verifier, ArithmeticVerifier)
    info = {v.name: v for v in available_verifiers()}["arithmetic"]
    assert "zero tokens" in info.summary
    assert getattr(info, "needs_model", False) is False
    with pytest.raises(Exception, match="no options"):
        make_verifier("arithmetic", None, preset="x")
