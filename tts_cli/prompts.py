"""Prompts, in one place, per task family. Override with ``--system-prompt``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

STEP_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class PromptSet:
    system: str
    user_template: str = "{question}"

    def messages(self, question: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user_template.format(question=question)},
        ]


MATH = PromptSet(
    system=(
        "Solve the math problem step by step. Write each step as a short paragraph that starts "
        "with '## Step N:' and shows its calculation, and separate steps with a blank line. "
        "After the last step, give the final answer as: "
        "Therefore, the final answer is $\\boxed{ANSWER}$."
    ),
)

PROMPT_SETS: dict[str, PromptSet] = {"math": MATH}

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
    return PromptSet(system=system_override, user_template=base.user_template) if system_override else base
