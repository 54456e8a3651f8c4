"""Step-level search: partial solutions expanded one step at a time (beam, DVTS, MCTS).

A *step* is one paragraph of a solution; steps are separated by a blank line
(``prompts.STEP_SEPARATOR``). Step-level search generates one step per sequence by passing that
separator as a stop string, and continues a partial solution from ``prefix + completion.tokens``
so the engine reuses its KV cache instead of evaluating the prefix again.

Token accounting: every node records exactly the policy tokens its completion cost the engine,
so ``tree.total_tokens`` equals the policy's ``usage.generated_tokens`` spent by the strategy, and
the budget check (``tree.total_tokens`` before every round, per-sequence limits so that a round
cannot overshoot) is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from tts_cli.engine.types import Completion, SamplingParams
from tts_cli.prompts import STEP_SEPARATOR
from tts_cli.strategies.base import Candidate, SearchContext, capped_tokens, generate, has_boxed_answer
from tts_cli.strategies.options import option
from tts_cli.tree import ACTIVE, CHOSEN, FINISHED, PRUNED, SearchTree
from tts_cli.verifiers.aggregate import aggregate


def max_depth_option() -> Any:
    """The ``--max-depth`` field of a step-level search's options."""
    return option(40, "--max-depth", help="Most steps per solution.", minimum=1)


def step_tokens_option() -> Any:
    """The ``--step-tokens`` field of a step-level search's options."""
    return option(256, "--step-tokens", help="Token limit per step.", minimum=1)


def spread(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal non-negative integers, larger ones first."""
    if parts <= 0:
        return []
    base, extra = divmod(max(0, total), parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def settle_tree(tree: SearchTree) -> None:
    """After a search: every still-active node with no finished descendant becomes pruned."""
    keep: set[int] = set()
    for node in tree.nodes:
        if node.status in (FINISHED, CHOSEN):
            current = node.parent
            while current is not None and current not in keep:
                keep.add(current)
                current = tree.nodes[current].parent
    for node in tree.nodes[1:]:
        if node.status == ACTIVE and node.id not in keep:
            tree.update(node.id, status=PRUNED)


@dataclass
class Partial:
    """A partial solution: the path from the root to one tree node."""

    node_id: int
    prefix: list[int]  # prompt + every generated token on the path (the exact state to continue)
    text: str = ""  # the solution text so far (separators between steps included)
    steps: list[str] = field(default_factory=list)  # step texts, as the verifier sees them
    scores: list[float] = field(default_factory=list)  # one verifier score per step
    tokens: int = 0  # policy tokens generated on the path
    stop: str = ""  # the stop string that ended the last step ("" if none)
    finish_reason: str = ""
    finished: bool = False  # ended with eos or produced a boxed final answer
    answer: Optional[str] = None

    def score(self, how: str) -> float:
        return aggregate(self.scores, how)

    def candidate(self, how: str) -> Candidate:
        return Candidate(
            text=self.text,
            answer=self.answer,
            tokens=self.tokens,
            finish_reason=self.finish_reason,
            node_id=self.node_id,
            score=self.score(how),
        )


class Stepper:
    """Expands partial solutions by one step each, all sequences in one batched generate call."""

    def __init__(self, ctx: SearchContext, *, step_tokens: int) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.step_tokens = step_tokens
        self._seed_index = 0
        self.expansions = 0  # sequences generated
        self.calls = 0  # generate calls
        self.verifier_calls = 0

    def root(self) -> Partial:
        return Partial(node_id=0, prefix=list(self.ctx.prompt))

    def room(self, partial: Partial) -> int:
        """Tokens the solution may still grow by under ``--max-tokens``."""
        return max(0, self.config.max_tokens - partial.tokens)

    def expand(
        self, parents: Sequence[Partial], widths: Sequence[int], *, stop: tuple[str, ...] = (STEP_SEPARATOR,)
    ) -> Optional[list[list[Partial]]]:
        """Children of each parent (``widths[i]`` of them), one step each; None if the budget is spent.

        Parents with no room left under ``--max-tokens`` get no children (an empty list).
        """
        config = self.config
        live = [w if self.room(p) > 0 else 0 for p, w in zip(parents, widths)]
        total = sum(live)
        if total == 0:
            return [[] for _ in parents]
        limit = max(1, self.step_tokens) if stop else config.max_tokens
        cap = capped_tokens(config, total, spent=self.ctx.tree.total_tokens, limit=limit)
        if cap <= 0:
            return None
        prefixes: list[list[int]] = []
        params: list[SamplingParams] = []
        owners: list[int] = []
        for i, (parent, width) in enumerate(zip(parents, live)):
            for _ in range(width):
                prefixes.append(parent.prefix)
                params.append(
                    config.sampling(self._seed_index, max_tokens=min(cap, self.room(parent)), stop=stop)
                )
                self._seed_index += 1
                owners.append(i)
        completions, costs = generate(self.ctx, prefixes, params)
        self.calls += 1
        self.expansions += len(completions)
        children: list[list[Partial]] = [[] for _ in parents]
        for owner, completion, cost in zip(owners, completions, costs):
            children[owner].append(self._record(parents[owner], completion, cost))
        return children

    def _record(self, parent: Partial, completion: Completion, cost: int) -> Partial:
        text = parent.text + parent.stop + completion.text
        finished = completion.finished or has_boxed_answer(completion.text)
        answer = self.ctx.form.extract(text) if finished else None
        node = self.ctx.tree.add(
            parent.node_id,
            completion.text,
            cost,
            status=ACTIVE,
            answer=answer,
            meta={"finish_reason": completion.finish_reason},
        )
        return Partial(
            node_id=node.id,
            prefix=parent.prefix + list(completion.tokens),
            text=text,
            steps=parent.steps + [completion.text.strip()],
            scores=list(parent.scores),
            tokens=parent.tokens + cost,
            stop=completion.stop or "",
            finish_reason=completion.finish_reason,
            finished=finished,
            answer=answer,
        )

    def score_last(self, verifier: Any, partials: Sequence[Partial]) -> None:
        """Score the newest step of each partial solution in one verifier call."""
        if not partials:
            return
        results = verifier.score(self.ctx.question, [p.steps for p in partials], last_only=True)
        self.verifier_calls += 1
        for partial, scores in zip(partials, results):
            value = float(scores[-1]) if len(scores) else 0.0
            partial.scores.append(value)
            node = self.ctx.tree.nodes[partial.node_id]
            meta = dict(node.meta)
            meta["path_score"] = partial.score(self.config.aggregate)
            self.ctx.tree.update(partial.node_id, score=value, meta=meta)

    def finish(self, partial: Partial) -> None:
        self.ctx.tree.update(partial.node_id, status=FINISHED, answer=partial.answer)

    def prune(self, partial: Partial) -> None:
        if partial.node_id != 0:
            self.ctx.tree.update(partial.node_id, status=PRUNED)


def best_index(scores: Sequence[float]) -> Optional[int]:
    """Index of the highest score (the first one on ties); None for an empty list."""
    best: Optional[int] = None
    for i, value in enumerate(scores):
        if best is None or value > scores[best]:
            best = i
    return best


def pick_best(candidates: Sequence[Candidate]) -> Optional[int]:
    """The highest-scored candidate that has an answer (else the highest-scored at all)."""
    with_answer = [i for i, c in enumerate(candidates) if c.answer is not None]
    pool = with_answer or list(range(len(candidates)))
    if not pool:
        return None
    scores = [candidates[i].score for i in pool]
    index = best_index([float("-inf") if score is None else score for score in scores])
    return pool[index] if index is not None else None
