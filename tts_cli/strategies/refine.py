"""``refine``: self-correction — draft, critique, revise, for at most ``--rounds`` rounds.

The critique comes from the verifier when one is given (its step scores: all above 0.5 means "no
error", otherwise the lowest-scored step is pointed out), else from the policy itself (a critique
prompt that ends with a VERDICT line). The loop stops early once a critique finds no error.
Every draft, critique and revision is a tree node: draft -> critique -> revision -> critique -> ...
With a verifier the best-scored version wins (the later one on ties); without one, the last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from tts_cli.engine.types import Completion
from tts_cli.prompts import critique_finds_error, critique_messages, revise_messages
from tts_cli.strategies.base import (
    Candidate,
    SearchContext,
    SearchResult,
    capped_tokens,
    finish,
    generate,
    has_boxed_answer,
    options_of,
    split_steps,
)
from tts_cli.strategies.options import Options, option
from tts_cli.strategies.registry import register
from tts_cli.tree import FINISHED, PRUNED
from tts_cli.verifiers.aggregate import aggregate

NO_ERROR_THRESHOLD = 0.5


def verifier_critique(step_scores: list[float], steps: list[str]) -> tuple[bool, str]:
    """(error found, critique text) from verifier step scores: an error unless all exceed 0.5."""
    if steps and step_scores and all(s > NO_ERROR_THRESHOLD for s in step_scores):
        return False, f"The verifier accepts every step (lowest score {min(step_scores):.2f}). VERDICT: CORRECT"
    if not steps or not step_scores:
        return True, "The solution has no steps to check. Solve the problem step by step. VERDICT: INCORRECT"
    worst = min(range(len(step_scores)), key=lambda i: step_scores[i])
    quoted = steps[worst] if len(steps[worst]) <= 400 else steps[worst][:400] + " ..."
    return True, (
        f"Step {worst + 1} looks wrong (verifier score {step_scores[worst]:.2f}):\n{quoted}\n"
        "Recheck this step and everything after it. VERDICT: INCORRECT"
    )


@dataclass(frozen=True)
class RefineOptions(Options):
    rounds: int = option(3, "--rounds", help="Critique/revise rounds at most.", minimum=1)


@register(
    "refine",
    summary="Self-correction: draft, critique (verifier or the model itself), revise; stops when no error is found.",
    options=RefineOptions,
    reads=("temperature", "top_p", "max_tokens", "budget"),
    reads_scores=True,
)
def run(ctx: SearchContext) -> SearchResult:
    refinement = _Refinement(ctx)
    draft = refinement.add_version(list(ctx.prompt), 0, "draft")
    if draft is None:
        return finish(ctx, [], None, {"reason": "budget exhausted"})
    current, rounds, stopped = refinement.rounds(draft, options_of(ctx, RefineOptions).rounds)
    return refinement.result(current, rounds, stopped)


class _Refinement:
    """The versions of one solution, their critiques and the calls they took."""

    def __init__(self, ctx: SearchContext) -> None:
        self.ctx = ctx
        self.tree = ctx.tree
        self.verifier: Any = ctx.verifier if ctx.verifier is not None and hasattr(ctx.verifier, "score") else None
        self.candidates: list[Candidate] = []
        self.steps_of: dict[int, list[str]] = {}  # candidate index -> steps
        self.scored: set[int] = set()  # candidate indices the verifier scored
        self.history: list[dict[str, Any]] = []
        self.generate_calls = 0
        self.verifier_calls = 0
        self.seed_index = 0

    def rounds(self, current: int, limit: int) -> tuple[int, int, str]:
        """Critique and revise at most ``limit`` times: (last version, revisions, why it stopped)."""
        rounds = 0
        for _ in range(max(0, limit)):
            critique = self.critique(current)
            if critique is None:
                return current, rounds, "budget exhausted"
            error, text, node = critique
            self.history.append({"round": rounds + 1, "error": error, "critique_node": node})
            if not error:
                return current, rounds, "no error found"
            revised = self.revise(current, text, node)
            if revised is None:
                return current, rounds, "budget exhausted"
            rounds += 1
            current = revised
        return current, rounds, "rounds done"

    def ask(self, prefix: list[int], temperature: Optional[float] = None) -> Optional[tuple[Completion, int]]:
        """One sequence: generation is inherently sequential here (each step needs the last)."""
        cap = capped_tokens(self.ctx.config, 1, spent=self.tree.total_tokens)
        if cap <= 0:
            return None
        overrides: dict[str, Any] = {"max_tokens": cap}
        if temperature is not None:
            overrides["temperature"] = temperature
        params = self.ctx.config.sampling(self.seed_index, **overrides)
        self.seed_index += 1
        completions, costs = generate(self.ctx, [prefix], [params])
        self.generate_calls += 1
        return completions[0], costs[0]

    def add_version(self, prefix: list[int], parent: int, kind: str) -> Optional[int]:
        """A draft or revision below node ``parent``: its candidate index (None: budget spent)."""
        got = self.ask(prefix)
        if got is None:
            return None
        completion, cost = got
        answer = self.ctx.form.extract(completion.text)
        done = completion.finished or has_boxed_answer(completion.text)
        node = self.tree.add(
            parent,
            completion.text,
            cost,
            status=FINISHED if done else PRUNED,
            answer=answer,
            meta={"kind": kind, "finish_reason": completion.finish_reason},
        )
        self.candidates.append(
            Candidate(
                text=completion.text,
                answer=answer,
                tokens=cost,
                finish_reason=completion.finish_reason,
                node_id=node.id,
            )
        )
        self.steps_of[len(self.candidates) - 1] = split_steps(completion.text)
        return len(self.candidates) - 1

    def score(self, index: int) -> list[float]:
        """The verifier's step scores of version ``index``; its aggregate becomes its score."""
        steps = self.steps_of[index]
        if not steps:
            scores: list[float] = []
        else:
            scores = [float(x) for x in self.verifier.score(self.ctx.question, [steps])[0]]
            self.verifier_calls += 1
        cand = self.candidates[index]
        cand.score = aggregate(scores, self.ctx.config.aggregate)
        node = self.tree.nodes[cand.node_id or 0]
        self.tree.update(node.id, score=cand.score, meta={**node.meta, "step_scores": scores})
        self.scored.add(index)
        return scores

    def critique(self, index: int) -> Optional[tuple[bool, str, int]]:
        """(error found, critique text, its node) for version ``index``; None: budget spent."""
        solution = self.candidates[index]
        if self.verifier is not None:
            error, text = verifier_critique(self.score(index), self.steps_of[index])
            meta: dict[str, Any] = {"kind": "critique", "source": "verifier"}
            return error, text, self.tree.add(solution.node_id or 0, text, 0, status=FINISHED, meta=meta).id
        prefix = self.ctx.policy.chat_prompt(critique_messages(self.ctx.question, solution.text))
        got = self.ask(prefix, temperature=0.0)
        if got is None:
            return None
        completion, cost = got
        meta = {"kind": "critique", "source": "policy", "finish_reason": completion.finish_reason}
        node = self.tree.add(solution.node_id or 0, completion.text, cost, status=FINISHED, meta=meta)
        return critique_finds_error(completion.text), completion.text, node.id

    def revise(self, index: int, critique: str, critique_node: int) -> Optional[int]:
        """Version ``index`` revised after ``critique``: the new version's index (None: budget spent)."""
        prefix = self.ctx.policy.chat_prompt(revise_messages(self.ctx.question, self.candidates[index].text, critique))
        return self.add_version(prefix, critique_node, "revision")

    def result(self, current: int, rounds: int, stopped: str) -> SearchResult:
        """With a verifier the best-scored version wins, else the last; a version cut off by the
        budget or --max-tokens only wins when no version is complete."""
        if self.verifier is not None and current not in self.scored:
            self.score(current)
        candidates = self.candidates

        def complete(i: int) -> bool:
            return self.tree.nodes[candidates[i].node_id or 0].status == FINISHED

        if self.verifier is not None:
            chosen = max(range(len(candidates)), key=lambda i: (complete(i), candidates[i].score or 0.0, i))
        else:
            chosen = max(range(len(candidates)), key=lambda i: (complete(i), i))
        info = {
            "rounds": rounds,
            "critic": "verifier" if self.verifier is not None else "policy",
            "stopped": stopped,
            "history": self.history,
            "generate_calls": self.generate_calls,
            "verifier_calls": self.verifier_calls,
        }
        return finish(self.ctx, candidates, chosen, info)
