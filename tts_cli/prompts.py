"""Prompts, in one place, per task family. Override with ``--system-prompt``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Sequence

STEP_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class PromptSet:
    system: str
    user_template: str = "{question}"
    examples: tuple[tuple[str, str], ...] = ()  # few-shot (question, answer) turns before the question
    # the set a multiple-choice question is asked with instead (None: this one, options and all)
    for_choices: Optional["PromptSet"] = None

    def messages(
        self, question: str, conversation: Sequence[dict[str, str]] = (), system_note: str = ""
    ) -> list[dict[str, str]]:
        """The chat: this set's system prompt (with the caller's ``system_note`` after it), its
        few-shot turns, the ``conversation`` so far (user and assistant turns, e.g. from a chat
        client), then the question."""
        shots = [
            {"role": role, "content": content if role == "assistant" else self.user_template.format(question=content)}
            for example in self.examples
            for role, content in zip(("user", "assistant"), example)
        ]
        system = f"{self.system}\n\n{system_note}" if system_note else self.system
        return [
            {"role": "system", "content": system},
            *shots,
            *conversation,
            {"role": "user", "content": self.user_template.format(question=question)},
        ]


# A multiple-choice question: the user message holds the question and its lettered options
# (questions.Question.prompt_text); the answer is the letter, boxed like a math answer so that the
# same step format, stop rules and verifiers apply.
CHOICE = PromptSet(
    system=(
        "Answer the multiple-choice question. Think step by step: write each step as a short "
        "paragraph that starts with '## Step N:', and separate steps with a blank line. Work out "
        "the answer first, then compare it with every option. After the last step, give the letter "
        "of the correct option as: Therefore, the final answer is $\\boxed{LETTER}$."
    ),
)

MATH = PromptSet(
    system=(
        "Solve the math problem step by step. Write each step as a short paragraph that starts "
        "with '## Step N:' and shows its calculation, and separate steps with a blank line. "
        "After the last step, give the final answer as: "
        "Therefore, the final answer is $\\boxed{ANSWER}$."
    ),
    for_choices=CHOICE,
)

# --- program-of-thought: the policy writes a program, the sandbox runs it ---------------------

PROGRAM_ZERO_SHOT = PromptSet(
    system=(
        "Solve the math problem by writing a short Python program. Answer with one ```python code "
        "block and nothing else. The program must print only the final answer."
    ),
)

# PAL-style (Gao et al. 2022): every quantity of the problem named in a variable, the answer
# computed one operation per line, then printed.
PROGRAM_PLAIN = PromptSet(
    system=(
        "Solve the math problem by writing a short Python program. First store every quantity of "
        "the problem in a variable with a meaningful name, then compute the answer step by step, "
        "one operation per line, and end with print(answer). Use only the Python standard library "
        "(fractions.Fraction or math where exact values help). Answer with one ```python code block "
        "and nothing else."
    ),
    examples=(
        (
            "A baker makes 24 muffins and packs them in boxes of 4. He sells each box for $6. "
            "How many dollars does he make if he sells every box?",
            "```python\n"
            "muffins = 24\n"
            "muffins_per_box = 4\n"
            "price_per_box = 6\n"
            "boxes = muffins / muffins_per_box\n"
            "answer = boxes * price_per_box\n"
            "print(answer)\n"
            "```",
        ),
        (
            "Tom reads 15 pages of a 100-page book on Monday and twice as many pages on Tuesday. "
            "What percent of the book does he still have to read?",
            "```python\n"
            "total_pages = 100\n"
            "monday_pages = 15\n"
            "tuesday_pages = 2 * monday_pages\n"
            "pages_left = total_pages - monday_pages - tuesday_pages\n"
            "answer = pages_left / total_pages * 100\n"
            "print(answer)\n"
            "```",
        ),
    ),
)

# The few-shot muffin program's steps, shared by PROGRAM and PROGRAM_CHOICE.
_MUFFIN_STEPS = (
    "# The question asks for the dollars made by selling all the boxes.\n"
    "# 24 muffins are packed 4 to a box.\n"
    "boxes = 24 / 4\n"
    "# Each box sells for $6.\n"
    "answer = boxes * 6\n"
)

# A multiple-choice question asked for a program: the program computes its answer as PROGRAM's do,
# then compares it with the options itself and prints the letter of the nearest one, so a value off
# by rounding or in another unit of the same size still names an option (grading/forms reads a
# printed letter as the answer; a printed value still goes to the option within 2% of it).
PROGRAM_CHOICE = PromptSet(
    system=(
        "Answer the multiple-choice question by writing a short Python program. Start with a comment "
        "that says exactly what the question asks for. Then, for each step, write a comment explaining "
        "the step in words, followed by the line of code that computes it, with every quantity in a "
        "variable with a meaningful name. Then write the options' values in a dict from letter to value "
        "and end by printing the letter of the option nearest to the answer. Use only the Python "
        "standard library. Answer with one ```python code block and nothing else."
    ),
    examples=(
        (
            "A baker makes 24 muffins and packs them in boxes of 4. He sells each box for $6. "
            "How many dollars does he make if he sells every box?\n\n"
            "A) $24\nB) $30\nC) $36\nD) $42\nE) $48",
            "```python\n"
            + _MUFFIN_STEPS
            + "# The options' values, and the letter of the one nearest to the answer.\n"
            'options = {"A": 24, "B": 30, "C": 36, "D": 42, "E": 48}\n'
            "print(min(options, key=lambda letter: abs(options[letter] - answer)))\n"
            "```",
        ),
        (
            "A square has a diagonal of 10 cm. What is its side, in cm?\n\n"
            "A) 5\nB) 5√2\nC) 10√2\nD) 7\nE) 20",
            "```python\n"
            "import math\n"
            "# The question asks for the side of a square whose diagonal is 10 cm.\n"
            "diagonal = 10\n"
            "# The diagonal of a square is its side times the square root of 2.\n"
            "answer = diagonal / math.sqrt(2)\n"
            "# The options' values, and the letter of the one nearest to the answer.\n"
            'options = {"A": 5, "B": 5 * math.sqrt(2), "C": 10 * math.sqrt(2), "D": 7, "E": 20}\n'
            "print(min(options, key=lambda letter: abs(options[letter] - answer)))\n"
            "```",
        ),
    ),
)

# The program prompt: PAL-style, with the reasoning in comments (what the question asks, then each
# step in words before its line of code). Chosen on GSM8K dev problems 1-20 with the 1.5B policy,
# greedy (benchmarks/choose_program_prompt.py): 12/20 right, against 10/20 for PROGRAM_PLAIN and
# for PROGRAM_ZERO_SHOT.
PROGRAM = PromptSet(
    system=(
        "Solve the math problem by writing a short Python program. Start with a comment that says "
        "exactly what the question asks for. Then, for each step, write a comment explaining the "
        "step in words, followed by the line of code that computes it, with every quantity in a "
        "variable with a meaningful name. End with print(answer). Use only the Python standard "
        "library. Answer with one ```python code block and nothing else."
    ),
    examples=(
        (
            PROGRAM_PLAIN.examples[0][0],
            "```python\n" + _MUFFIN_STEPS + "print(answer)\n```",
        ),
        (
            PROGRAM_PLAIN.examples[1][0],
            "```python\n"
            "# The question asks for the percent of the 100-page book still unread.\n"
            "total_pages = 100\n"
            "# Monday: 15 pages; Tuesday: twice Monday's pages.\n"
            "monday_pages = 15\n"
            "tuesday_pages = 2 * monday_pages\n"
            "# Pages not read yet.\n"
            "pages_left = total_pages - monday_pages - tuesday_pages\n"
            "# As a percent of the whole book.\n"
            "answer = pages_left / total_pages * 100\n"
            "print(answer)\n"
            "```",
        ),
    ),
    for_choices=PROGRAM_CHOICE,
)

PROMPT_SETS: dict[str, PromptSet] = {
    "math": MATH,
    "choice": CHOICE,
    "program": PROGRAM,
    "program-plain": PROGRAM_PLAIN,
    "program-zero-shot": PROGRAM_ZERO_SHOT,
    "program-choice": PROGRAM_CHOICE,
}

# --- refine: critique and revision -------------------------------------------------------------

VERDICT_CORRECT = "VERDICT: CORRECT"
VERDICT_INCORRECT = "VERDICT: INCORRECT"

CRITIQUE = PromptSet(
    system=(
        "You are a careful math teacher. Check the student's solution step by step. If a step is "
        "wrong, name the first wrong step, explain the mistake and how to fix it. Do not solve the "
        "problem again. End with exactly one line: "
        f"{VERDICT_CORRECT} if every step is right, or {VERDICT_INCORRECT} if any step is wrong."
    ),
    user_template="Problem:\n{question}\n\nStudent's solution:\n{solution}",
)

REVISE = PromptSet(
    system=MATH.system,
    user_template=(
        "{question}\n\nA previous attempt:\n{solution}\n\nFeedback on that attempt:\n{critique}\n\n"
        "Write a corrected, complete solution from the start, one step per paragraph, ending with "
        "the final answer in \\boxed{{}}."
    ),
)


def critique_messages(question: str, solution: str, prompts: PromptSet = CRITIQUE) -> list[dict[str, str]]:
    """Messages asking the policy to critique ``solution`` (ends with a VERDICT line)."""
    return [
        {"role": "system", "content": prompts.system},
        {"role": "user", "content": prompts.user_template.format(question=question, solution=solution)},
    ]


def revise_messages(
    question: str, solution: str, critique: str, prompts: PromptSet = REVISE
) -> list[dict[str, str]]:
    """Messages asking the policy to rewrite ``solution`` following ``critique``."""
    return [
        {"role": "system", "content": prompts.system},
        {
            "role": "user",
            "content": prompts.user_template.format(question=question, solution=solution, critique=critique),
        },
    ]


def critique_finds_error(critique: str) -> bool:
    """Whether a critique reports an error: its last VERDICT line decides; without one, phrases do."""
    upper = critique.upper()
    at = upper.rfind("VERDICT")
    if at >= 0:
        verdict = upper[at + len("VERDICT") :].lstrip(" :*").split("\n", 1)[0]
        if "INCORRECT" in verdict or "WRONG" in verdict:
            return True
        if "CORRECT" in verdict:
            return False
    lower = critique.lower()
    return not any(p in lower for p in ("no error", "no mistake", "is correct", "are correct", "all steps are right"))


def prompt_set(name: str = "math", system_override: Optional[str] = None) -> PromptSet:
    base = PROMPT_SETS[name]
    # the user's own system prompt is used for every question, options shown the same way
    return replace(base, system=system_override, for_choices=None) if system_override else base
