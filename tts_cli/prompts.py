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
        "Solve the math problem efficiently and clearly. Think step by step: write each step as a "
        "short paragraph and separate steps with a blank line. End with the final answer in the "
        "form: Therefore, the final answer is $\\boxed{ANSWER}$."
    ),
)

PROMPT_SETS: dict[str, PromptSet] = {"math": MATH}


def prompt_set(name: str = "math", system_override: Optional[str] = None) -> PromptSet:
    base = PROMPT_SETS[name]
    return PromptSet(system=system_override, user_template=base.user_template) if system_override else base
