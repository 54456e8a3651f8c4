from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tts_cli.grading import (
    answers_equivalent,
    extract_answer,
    extract_gold,
    group_equivalent,
    majority_answer,
)
from tts_cli.grading.equivalence import _compare_in_thread

GSM8K_ANSWER = (
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n"
    "#### 72"
)

# --- extract_answer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"So $x = \boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),
        (r"\boxed{\sqrt{\frac{a}{b}}}", r"\sqrt{\frac{a}{b}}"),
        (r"First \boxed{3}, but on reflection \boxed{4}.", "4"),
        (r"The result is \fbox{7}", "7"),
        (r"\boxed{5} and an unfinished \boxed{6", "5"),
        (r"Set: \boxed{\{1, 2\}}", r"\{1, 2\}"),
        (r"$\boxed 9$", "9"),
    ],
)
def test_boxed(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


def test_thousands_separators_are_read_the_same_when_extracting_and_comparing() -> None:
    # one pattern for both: "1,234." is 1234 with a period, as "1234." is a decimal
    assert extract_answer(r"\boxed{1,234.}") == "1234."
    assert extract_answer(r"\boxed{1,234.5}") == "1234.5"
    assert answers_equivalent("1,234.", "1234") and answers_equivalent("1,234.50", "1234.5")


def test_boxed_beats_every_other_marker() -> None:
    assert extract_answer(r"The answer is 3. #### 4 so \boxed{5} and 6") == "5"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("48 + 24 = 72\n#### 72", "72"),
        ("total\n#### 1,234\n", "1234"),
        ("#### $18", "18"),
    ],
)
def test_gsm8k_hashes(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("So the answer is 72.", "72"),
        ("The answer is 72 clips.", "72"),
        ("Final answer: 72", "72"),
        ("FINAL ANSWER: 72", "72"),
        ("answer: $72$", "72"),
        (r"The answer is \(3\).", "3"),
        ("**Final Answer:** 42", "42"),
        ("The answer is 5. Wait, no: the answer is 6.", "6"),
        (
            "Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.",
            r"\frac{3}{4}",
        ),
    ],
)
def test_answer_phrases(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She bought 1,234 apples.", "1234"),
        ("The temperature fell to -3 degrees", "-3"),
        ("Half of it is 0.5", "0.5"),
        ("It costs $18.", "18"),
        ("10 minus 7 leaves 5-3", "3"),  # "5-3" is a subtraction, not "-3"
        ("Let's answer the question: 12 + 3 = 15", "15"),
    ],
)
def test_last_number_fallback(text: str, expected: str) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "I don't know.", r"\boxed{", "answer is"])
def test_no_answer_is_none(text: str) -> None:
    assert extract_answer(text) is None


def test_extract_is_linear_on_adversarial_input() -> None:
    nasty = [
        "\\boxed{" * 100_000,
        "1,234" * 100_000,
        "answer is " * 50_000,
        "$" * 500_000,
        "9" * 500_000,
        "{" * 500_000,
    ]
    start = time.perf_counter()
    for text in nasty:
        extract_answer(text)
    assert time.perf_counter() - start < 2.0


# --- extract_gold -----------------------------------------------------------------------------


def test_gold_gsm8k() -> None:
    assert extract_gold(GSM8K_ANSWER) == "72"
    assert extract_gold("It is a lot.\n#### 1,000\n") == "1000"


def test_gold_math() -> None:
    assert extract_gold("  \\frac{\\sqrt{3}}{2}\n") == "\\frac{\\sqrt{3}}{2}"
    assert extract_gold("So the area is $\\boxed{18\\pi}$.") == "18\\pi"


# --- answers_equivalent -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("72", "72.0"),
        ("72", "72.00"),
        ("72.0", r"\boxed{72}"),
        (r"\frac{1}{2}", "0.5"),
        ("0.5", "1/2"),
        (r"\dfrac{1}{2}", "1/2"),
        ("1,000", "1000"),
        ("$18", "18"),
        (r"\$18", "18.00"),
        ("50%", "50"),
        (r"\text{Yes}", "yes"),
        (r"\frac{\sqrt{2}}{2}", r"\sqrt{2}/2"),
        (r"x^2+2x+1", r"(x+1)^2"),
    ],
)
def test_equivalent(a: str, b: str) -> None:
    assert answers_equivalent(a, b)
    assert answers_equivalent(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [("72", "73"), ("0.5", "0.05"), ("1/2", "1/3"), ("yes", "sey"), ("(1,2)", "(2,1)")],
)
def test_not_equivalent(a: str, b: str) -> None:
    assert not answers_equivalent(a, b)
    assert not answers_equivalent(b, a)


def test_none_and_blank_never_equal() -> None:
    assert not answers_equivalent(None, None)
    assert not answers_equivalent(None, "72")
    assert not answers_equivalent("72", None)
    assert not answers_equivalent("", "")


def test_equivalence_is_fast_on_huge_answers() -> None:
    huge = "9" * 300_000
    start = time.perf_counter()
    assert answers_equivalent(huge, huge + ".0")
    assert not answers_equivalent(huge + "x", huge)
    assert not answers_equivalent(huge, "1/2")
    assert not answers_equivalent("$" * 300_000, "1")
    assert not answers_equivalent("\\boxed{" * 100_000, "1")
    assert time.perf_counter() - start < 2.0


def test_slow_comparison_times_out_to_false() -> None:
    start = time.perf_counter()
    assert not answers_equivalent(r"9^{9^{9^{9}}}", "3", timeout_seconds=0.5)
    assert time.perf_counter() - start < 1.5
    assert answers_equivalent(r"\sqrt{8}", r"2\sqrt{2}")  # the worker recovers


def test_works_outside_the_main_thread() -> None:
    results: list[bool] = []
    thread = threading.Thread(
        target=lambda: results.append(answers_equivalent(r"\sqrt{12}", r"2\sqrt{3}"))
    )
    thread.start()
    thread.join(30)
    assert results == [True]


def test_in_process_fallback() -> None:
    assert _compare_in_thread(r"\sqrt{18}", r"3\sqrt{2}", 10.0)
    assert not _compare_in_thread(r"\sqrt{18}", r"2\sqrt{3}", 10.0)


def test_importing_grading_does_not_import_sympy() -> None:
    code = "import sys, tts_cli.grading; assert 'sympy' not in sys.modules, 'sympy imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- grouping and majority --------------------------------------------------------------------


def test_group_equivalent() -> None:
    answers = ["1/2", "3", "0.5", None, r"\frac{1}{2}", "3.0"]
    assert group_equivalent(answers) == [[0, 2, 4], [1, 5]]


def test_group_equivalent_skips_none() -> None:
    assert group_equivalent([None, None]) == []
    assert group_equivalent([None, "4", None, "4"]) == [[1, 3]]


def test_majority_answer() -> None:
    assert majority_answer(["3", "1/2", "0.5", "3.0", "0.50"]) == (1, [[0, 3], [1, 2, 4]])


def test_majority_tie_goes_to_first_group() -> None:
    assert majority_answer(["1", "2", "2", "1"]) == (0, [[0, 3], [1, 2]])
    assert majority_answer(["2", "1", "1", "2"]) == (0, [[0, 3], [1, 2]])


def test_majority_of_nothing() -> None:
    assert majority_answer([]) == (None, [])
    assert majority_answer([None, None]) == (None, [])


# --- properties -------------------------------------------------------------------------------

_whitespace = st.text(alphabet=" \t\n\r", max_size=5)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_extract_never_raises(text: str) -> None:
    result = extract_answer(text)
    assert result is None or (isinstance(result, str) and result == result.strip() and result)


@settings(max_examples=300, deadline=None)
@given(st.text(), _whitespace, _whitespace)
def test_extract_stable_under_surrounding_whitespace(text: str, before: str, after: str) -> None:
    assert extract_answer(before + text + after) == extract_answer(text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_extract_survives_binary_garbage(data: bytes) -> None:
    extract_answer(data.decode("utf-8", errors="surrogateescape"))
    extract_gold(data.decode("latin-1"))


_numbers = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.integers(1000, 10**9).map(lambda n: f"{n:,}"),
    st.decimals(-(10**6), 10**6, places=3, allow_nan=False, allow_infinity=False).map(str),
)


@settings(max_examples=100, deadline=None)
@given(_numbers, st.sampled_from(["So it is {}", "The answer is {}.", "#### {}", r"\boxed{{{}}}"]))
def test_equivalence_reflexive_on_extracted_numbers(number: str, template: str) -> None:
    extracted = extract_answer(template.format(number))
    assert extracted is not None
    assert answers_equivalent(extracted, extracted)
    assert answers_equivalent(extracted, number)


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30))
def test_equivalence_never_raises(a: str, b: str) -> None:
    assert isinstance(answers_equivalent(a, b, timeout_seconds=1.0), bool)


def test_symbolic_comparison_in_a_forked_child_does_not_hang() -> None:
    """A forked child (the crash-isolated tests fork; so may a user's program) must not touch the
    parent's math-verify worker: its reader thread held a stream lock at the fork, and closing that
    stream in the child blocked for ever."""
    import os
    import time

    from tts_cli.grading import equivalence

    assert equivalence._symbolic_equivalent("\\frac{1}{2}", "0.5", 10.0)  # the parent's worker runs now
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if equivalence._symbolic_equivalent("\\frac{2}{6}", "\\frac{1}{3}", 10.0) else 1)
        except BaseException:  # noqa: BLE001 - a forked child must never return into pytest
            os._exit(2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung on the parent's math-verify worker")
    assert equivalence._symbolic_equivalent("\\frac{3}{9}", "\\frac{1}{3}", 10.0)  # the parent's still works
