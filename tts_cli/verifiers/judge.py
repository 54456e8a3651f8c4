"""LLM-as-judge process verifier: any instruct model, p(Yes) vs p(No) after one forward pass.

For every (solution, step) pair the judge sees the problem and the steps up to that one, is asked
whether the last of them is correct, and the probability of "Yes" versus "No" as its next token is
the step's score. Nothing is generated: all pairs go to one batched ``next_token_logprobs`` call.
The prompt puts what pairs share first (system, problem, earlier steps) and the question about
step k last, so the engine's prefix cache reuses the shared part across steps and candidates.
"""

from __future__ import annotations

from typing import Optional, Sequence

from tts_cli.cost import ModelUsage
from tts_cli.engine.types import Engine
from tts_cli.errors import ModelError
from tts_cli.verifiers._scoring import binary_score, single_tokens, steps_to_score

JUDGE_SYSTEM = (
    "You are a strict math grader. You check one step of a student's solution at a time. "
    "A step is correct only if its reasoning and every calculation in it are right and it follows "
    "from the problem and the earlier steps."
)

# {problem}, {steps} (the numbered steps so far) and {k} (the step under review). Keep {k} after
# the rest: text before it is shared between the prompts of one solution's steps.
JUDGE_TEMPLATE = (
    "Problem:\n{problem}\n\n"
    "Solution so far:\n{steps}\n\n"
    "Is Step {k} correct? Answer with Yes or No."
)

STEP_FORMAT = "Step {k}: {text}"

YES_VARIANTS: tuple[str, ...] = ("Yes", " Yes", "yes", " yes", "YES")
NO_VARIANTS: tuple[str, ...] = ("No", " No", "no", " no", "NO")


class JudgeVerifier:
    """Scores steps by asking ``engine`` whether each one is correct (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        name: Optional[str] = None,
        usage: Optional[ModelUsage] = None,
        system: str = JUDGE_SYSTEM,
        template: str = JUDGE_TEMPLATE,
        yes: Sequence[str] = YES_VARIANTS,
        no: Sequence[str] = NO_VARIANTS,
    ) -> None:
        self.engine = engine
        self.name = name or f"judge:{engine.name}"
        self.usage = usage if usage is not None else ModelUsage(model=engine.name, params=engine.n_params)
        self.system = system
        self.template = template
        self.yes_ids = single_tokens(engine, yes)
        self.no_ids = single_tokens(engine, no)
        if not self.yes_ids or not self.no_ids:
            raise ModelError(
                f"{engine.name}: no single-token spelling of "
                f"{'Yes' if not self.yes_ids else 'No'} in this vocabulary; it cannot be a judge"
            )
        overlap = set(self.yes_ids) & set(self.no_ids)
        if overlap:
            raise ModelError(f"{engine.name}: Yes and No variants share tokens {sorted(overlap)}")

    def messages(self, question: str, steps: Sequence[str], k: int) -> list[dict[str, str]]:
        """The chat asking about step ``k`` (1-based), showing steps 1..k."""
        shown = "\n".join(STEP_FORMAT.format(k=i + 1, text=s.strip()) for i, s in enumerate(steps[:k]))
        user = self.template.format(problem=question.strip(), steps=shown, k=k)
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def score(
        self, question: str, solutions: Sequence[Sequence[str]], *, last_only: bool = False
    ) -> list[list[float]]:
        pairs = steps_to_score(solutions, last_only)
        out: list[list[float]] = [[] for _ in solutions]
        if not pairs:
            return out
        prompts = [self.engine.chat_prompt(self.messages(question, solutions[i], k)) for i, k in pairs]
        candidates = self.yes_ids + self.no_ids
        rows = self.engine.next_token_logprobs(prompts, candidates, usage=self.usage)
        n_yes = len(self.yes_ids)
        for (i, _), row in zip(pairs, rows):
            out[i].append(binary_score(row[:n_yes], row[n_yes:]))
        return out
