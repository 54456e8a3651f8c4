"""Shared machinery for verifier-guided strategies: steps, partial solutions, batched expansion.

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

import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from tts_cli.engine.types import Completion, Monitor, SamplingParams
from tts_cli.errors import UsageError
from tts_cli.grading import last_boxed
from tts_cli.programs import ProgramRun, run_programs
from tts_cli.prompts import STEP_SEPARATOR
from tts_cli.strategies.base import Candidate, SearchContext, capped_tokens
from tts_cli.strategies.options import option
from tts_cli.tree import ACTIVE, CHOSEN, FINISHED, PRUNED, SearchTree
from tts_cli.verifiers.aggregate import aggregate


def max_depth_option() -> Any:
    """The ``--max-depth`` field of a step-level search's options."""
    return option(40, "--max-depth", help="Most steps per solution.", minimum=1)


def step_tokens_option() -> Any:
    """The ``--step-tokens`` field of a step-level search's options."""
    return option(256, "--step-tokens", help="Token limit per step.", minimum=1)


# ----------------------------------------------------------------------------- small helpers


def split_steps(text: str) -> list[str]:
    """The non-empty steps of a solution, split on blank lines and stripped."""
    return [part.strip() for part in text.split(STEP_SEPARATOR) if part.strip()]


def require_verifier(ctx: SearchContext, strategy: str) -> Any:
    if ctx.verifier is None:
        raise UsageError(f"strategy {strategy} needs a verifier: pass --verifier MODEL")
    return ctx.verifier


def has_boxed_answer(text: str) -> bool:
    """Whether ``text`` contains a complete ``\\boxed{...}`` (or ``\\fbox{...}``) final answer."""
    if "\\boxed" not in text and "\\fbox" not in text:
        return False
    return bool(last_boxed(text))


def spread(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal non-negative integers, larger ones first."""
    if parts <= 0:
        return []
    base, extra = divmod(max(0, total), parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def generate(
    ctx: SearchContext,
    prefixes: Sequence[Sequence[int]],
    params: Sequence[SamplingParams],
    *,
    monitor: Optional[Monitor] = None,
) -> tuple[list[Completion], list[int]]:
    """One batched generate call; returns the completions and the token cost of each."""
    if monitor is None:  # engines written before monitors existed keep working
        completions = ctx.policy.generate([list(p) for p in prefixes], list(params))
    else:
        completions = ctx.policy.generate([list(p) for p in prefixes], list(params), monitor=monitor)
    return completions, [c.generated_tokens for c in completions]


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


# ----------------------------------------------------------------------- full-solution sampling


# A chain of thought cut off at its limit is asked for its answer (ctx.form.answer_cue): at most
# this many tokens, kept free in its limit, so a forced answer never passes --max-tokens.
FORCED_ANSWER_TOKENS = 4

COT = "cot"  # a chain-of-thought solution from ctx.prompt
PROGRAM = "program"  # a program from the program prompt (prompts.PROGRAM), run in the sandbox


@dataclass
class Sample:
    candidate: Candidate
    steps: list[str]
    step_scores: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Draw:
    """One full solution to draw: its kind, its seed index (sample i of a kind uses index i) and
    whether it is decoded greedily."""

    kind: str = COT
    index: int = 0
    greedy: bool = False


def greedy_draws(kinds: Sequence[str], wanted: bool = True) -> list[Draw]:
    """One greedy draw of each kind (none unless ``wanted``): the ``--with-greedy`` candidates, drawn
    first so that a tied vote goes to the greedy solution."""
    return [Draw(kind, 0, greedy=True) for kind in kinds] if wanted else []


def greedy_info(draws: Sequence[Draw]) -> dict[str, Any]:
    """For a result's ``info``: how many of the candidates (the first ones) are greedy solutions."""
    count = sum(1 for d in draws if d.greedy)
    return {"greedy_candidates": count} if count else {}


def sample_full(
    ctx: SearchContext,
    n: int,
    *,
    first_index: int = 0,
    greedy_first: bool = False,
    monitor: Optional[Monitor] = None,
    kind: str = COT,
) -> list[Sample]:
    """``n`` complete solutions of one kind from the prompt in one batch, recorded as children of
    the root.

    Sample ``i`` uses seed index ``first_index + i``, so a later batch draws new samples. With
    ``greedy_first`` the first one is decoded greedily (temperature 0) in the same batch."""
    draws = [Draw(kind, first_index + i, greedy_first and i == 0) for i in range(n)]
    return sample_draws(ctx, draws, monitor=monitor)


def program_prompt(ctx: SearchContext) -> list[int]:
    """The chat prompt asking the policy for a program that prints the answer (computed once)."""
    if ctx.program_prompt is None:
        from tts_cli.prompts import prompt_set

        ctx.program_prompt = ctx.policy.chat_prompt(prompt_set("program").messages(ctx.question))
    return ctx.program_prompt


def sample_draws(ctx: SearchContext, draws: Sequence[Draw], *, monitor: Optional[Monitor] = None) -> list[Sample]:
    """The ``draws`` (chain-of-thought and program solutions alike) in one batched generate call,
    recorded as children of the root; programs are then run in the sandbox and their output is
    their answer. ``monitor`` (early stop) watches the chain-of-thought samples only."""
    config = ctx.config
    n = len(draws)
    max_tokens = capped_tokens(config, n, spent=ctx.tree.total_tokens)
    if n <= 0 or max_tokens <= 0:
        return []
    prompts = {COT: ctx.prompt}
    if any(d.kind == PROGRAM for d in draws):
        prompts[PROGRAM] = program_prompt(ctx)
    forcing = ctx.form.answer_cue is not None and max_tokens > 2 * FORCED_ANSWER_TOKENS
    chain_tokens = max_tokens - FORCED_ANSWER_TOKENS if forcing else max_tokens
    params = [
        config.sampling(
            d.index, max_tokens=chain_tokens if d.kind == COT else max_tokens, **({"temperature": 0.0} if d.greedy else {})
        )
        for d in draws
    ]
    watched = monitor
    if monitor is not None and any(d.kind != COT for d in draws):
        watched = lambda i, trace: draws[i].kind == COT and monitor(i, trace)  # noqa: E731
    completions, costs = generate(ctx, [prompts[d.kind] for d in draws], params, monitor=watched)
    forced = _force_answers(ctx, [prompts[d.kind] if d.kind == COT else None for d in draws], completions) if forcing else {}
    runs = _run_programs(ctx, [c.text if d.kind == PROGRAM else None for d, c in zip(draws, completions)])
    samples = []
    for i, (completion, cost, run, sampling) in enumerate(zip(completions, costs, runs, params)):
        stopped = completion.finish_reason == "stopped"
        text = completion.text
        if i in forced:
            text, extra = forced[i]
            cost += extra
        if run is not None:
            answer = ctx.form.from_program(run.answer)
            done = answer is not None
        else:
            # a sample stopped for low confidence was cut mid-thought: whatever it wrote is no answer
            answer = None if stopped else ctx.form.extract(text)
            done = not stopped and (completion.finished or has_boxed_answer(text))
        candidate = Candidate(
            text=text, answer=answer, tokens=cost, finish_reason=completion.finish_reason,
            trace=completion.trace, program=run,
        )  # fmt: skip
        meta: dict[str, Any] = {"finish_reason": completion.finish_reason}
        if i in forced:
            meta["forced_answer"] = True
        if sampling.temperature <= 0:  # shown in the live tree: which candidates are greedy solutions
            meta["greedy"] = True
        if run is not None:
            meta["program"] = run.to_dict()
        elif "tail_conf" in candidate.signals:  # shown in the live tree
            meta["confidence"] = round(candidate.signals["tail_conf"], 2)
        node = ctx.tree.add(0, text, cost, status=FINISHED if done else PRUNED, answer=answer, meta=meta)
        candidate.node_id = node.id
        samples.append(Sample(candidate, split_steps(text) if run is None else [text.strip()]))
    return samples


def _force_answers(
    ctx: SearchContext, prefixes: Sequence[Optional[list[int]]], completions: Sequence[Completion]
) -> dict[int, tuple[str, int]]:
    """Chains of thought cut off at their token limit before naming an answer, continued (greedily,
    all in one batch, from their own KV state) with ``ctx.form.answer_cue``: index -> (the text with
    the forced answer, its extra generated tokens)."""
    cue = ctx.form.answer_cue or ""
    cut = [
        i for i, (prefix, c) in enumerate(zip(prefixes, completions))
        if prefix is not None and c.finish_reason == "length" and ctx.form.extract(c.text) is None
    ]  # fmt: skip
    if not cut:
        return {}
    cue_tokens = ctx.policy.tokenize(cue)
    extended = [list(prefixes[i] or []) + list(completions[i].tokens) + cue_tokens for i in cut]
    params = [SamplingParams(temperature=0.0, max_tokens=FORCED_ANSWER_TOKENS, stop=("}",)) for _ in cut]
    answers, costs = generate(ctx, extended, params)
    return {
        i: (completions[i].text + cue + answer.text.split("}", 1)[0] + "}$.", cost)
        for i, answer, cost in zip(cut, answers, costs)
    }


def _run_programs(ctx: SearchContext, texts: Sequence[Optional[str]]) -> list[Optional[ProgramRun]]:
    """Each program sample's run (None for the chain-of-thought ones); the sandbox's wall time is
    added to ``ctx.execution_seconds``."""
    wanted = [i for i, text in enumerate(texts) if text is not None]
    out: list[Optional[ProgramRun]] = [None] * len(texts)
    if not wanted:
        return out
    started = time.perf_counter()
    runs = run_programs([texts[i] or "" for i in wanted])
    if any(run.execution is not None for run in runs):  # no program in any of them: nothing ran
        ctx.execution_seconds += time.perf_counter() - started
    for i, run in zip(wanted, runs):
        out[i] = run
    return out


def score_samples(ctx: SearchContext, verifier: Any, samples: Sequence[Sample]) -> None:
    """Score the steps of every sample in one verifier call; set aggregated scores. With the
    ``last`` aggregate only each sample's last step is scored: the others would not count."""
    scored = [s for s in samples if s.steps]
    if scored:
        last_only = ctx.config.aggregate == "last"
        results = verifier.score(ctx.question, [s.steps for s in scored], last_only=last_only)
        for sample, scores in zip(scored, results):
            sample.step_scores = [float(x) for x in scores]
    for sample in samples:
        sample.candidate.score = aggregate(sample.step_scores, ctx.config.aggregate)
        node = ctx.tree.nodes[sample.candidate.node_id or 0]
        meta = dict(node.meta)
        meta["step_scores"] = list(sample.step_scores)
        ctx.tree.update(node.id, score=sample.candidate.score, meta=meta)


# --------------------------------------------------------------------------- step-level search


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
