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


def prompt_set(name: str = "math", system_override: Optional[str] = None) -> PromptSet:
    base = PROMPT_SETS[name]
    return PromptSet(system=system_override, user_template=base.user_template) if system_override else base
