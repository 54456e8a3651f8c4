"""Execution as a verifier: a chain-of-thought solution checked against programs and exact arithmetic.

For a question, the verifier's model writes ``programs`` programs once (the first greedy, the rest
sampled, in one batch) and the sandbox runs them. A step's score is the arithmetic check of the
solution up to it (``grading.arithmetic.check_steps``: the share of the arithmetic claims that hold
exactly, 1.0 while none is seen); a step that gives the final answer (a ``\\boxed{}``) scores the
mean of that and its agreement with the programs: the share of the answering programs whose output
is equivalent to it. Where no program answered, the arithmetic check alone.

Its compute: the programs' tokens in ``usage`` (one batch per question, whatever the number of
solutions scored), the sandbox's wall time in ``execution_seconds``.
"""

from __future__ import annotations

import time
from typing import Optional, Sequence

from tts_cli.cost import ModelUsage
from tts_cli.engine.types import Engine, SamplingParams
from tts_cli.grading import answers_equivalent, last_boxed
from tts_cli.grading.arithmetic import check_steps
from tts_cli.grading.forms import FreeForm, form_of
from tts_cli.programs import run_programs
from tts_cli.prompts import prompt_set
from tts_cli.questions import Question, inline_choices


def _form(question: str) -> FreeForm:
    """The answer form of a question as strategies pass it (a multiple-choice one with its
    lettered options, one per line): program outputs and final answers are read as options there."""
    return form_of(inline_choices(question) or Question(question))


class ProgramVerifier:
    """Scores steps by exact arithmetic, final answers also by agreement with programs (see module)."""

    def __init__(
        self,
        engine: Engine,
        *,
        programs: int = 4,
        temperature: float = 0.8,
        max_tokens: int = 512,
        seed: int = 0,
        name: Optional[str] = None,
        usage: Optional[ModelUsage] = None,
    ) -> None:
        if programs < 1:
            raise ValueError("the program verifier needs at least one program per question")
        self.engine = engine
        self.programs = programs
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.name = name or f"program:{engine.name}"
        self.usage = usage if usage is not None else ModelUsage(model=engine.name, params=engine.n_params)
        self.execution_seconds = 0.0
        self._answers: dict[str, list[str]] = {}

    def program_answers(self, question: str) -> list[str]:
        """What the programs written for ``question`` printed (the failed ones left out); written
        and run once per question."""
        if question not in self._answers:
            prompt = self.engine.chat_prompt(prompt_set("program").messages(question))
            params = [
                SamplingParams(temperature=0.0 if i == 0 else self.temperature, max_tokens=self.max_tokens, seed=seed)
                for i, seed in enumerate(self.seed * 100_003 + i for i in range(self.programs))
            ]
            completions = self.engine.generate([prompt] * self.programs, params, usage=self.usage)
            started = time.perf_counter()
            runs = run_programs([c.text for c in completions])
            self.execution_seconds += time.perf_counter() - started
            form = _form(question)
            answers = [form.from_program(run.answer) for run in runs]
            self._answers[question] = [answer for answer in answers if answer is not None]
        return self._answers[question]

    def agreement(self, question: str, answer: str) -> Optional[float]:
        """The share of the answering programs that agree with ``answer`` (None: none answered)."""
        found = self.program_answers(question)
        if not found:
            return None
        return sum(answers_equivalent(answer, other) for other in found) / len(found)

    def score(
        self, question: str, solutions: Sequence[Sequence[str]], *, last_only: bool = False
    ) -> list[list[float]]:
        out: list[list[float]] = []
        form = _form(question)
        for steps in solutions:
            scores = check_steps(steps)
            final = "\n\n".join(steps)
            if scores and last_boxed(final):
                answer = form.extract(final)
                agreement = self.agreement(question, answer) if answer is not None else None
                if agreement is not None:
                    scores[-1] = (scores[-1] + agreement) / 2
            out.append(scores[-1:] if last_only else scores)
        return out
