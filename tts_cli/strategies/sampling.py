"""Full-solution sampling: whole chain-of-thought or program solutions drawn from the prompt.

A *draw* names one solution to sample: its kind (``COT``, a chain of thought from ``ctx.prompt``;
``PROGRAM``, a program from the program prompt, run in the sandbox), its seed index and whether it
is decoded greedily. ``sample_draws`` decodes any mix of draws in one batched generate call and
records each solution as a child of the root; on a question with an answer cue (multiple choice),
a chain of thought cut off at its token limit, or a program whose run names no option, is asked
for its answer (``FORCED_ANSWER_TOKENS``). ``score_samples`` scores the samples' steps in one
verifier call.

Token accounting: every node records exactly the policy tokens its completion cost the engine
(its forced answer included), so ``tree.total_tokens`` equals the policy's
``usage.generated_tokens`` spent by the strategy, and the budget check is exact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from tts_cli.engine.types import Completion, Monitor, SamplingParams
from tts_cli.programs import ProgramRun, run_programs
from tts_cli.strategies.base import Candidate, SearchContext, capped_tokens, generate, has_boxed_answer, split_steps
from tts_cli.tree import FINISHED, PRUNED
from tts_cli.verifiers.aggregate import aggregate

# A chain of thought cut off at its limit, or a program that named no option, is asked for its
# answer (ctx.form.answer_cue): at most this many tokens, kept free in its limit, so a forced
# answer never passes --max-tokens.
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
    """The chat prompt asking the policy for a program that prints the answer (computed once); a
    multiple-choice question's program prints the letter of its nearest option."""
    if ctx.program_prompt is None:
        from tts_cli.prompts import prompt_set

        prompts = prompt_set("program")
        if ctx.form.kind == "choice" and prompts.for_choices is not None:
            prompts = prompts.for_choices
        ctx.program_prompt = ctx.policy.chat_prompt(prompts.messages(ctx.question))
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
    solution_tokens = max_tokens - FORCED_ANSWER_TOKENS if forcing else max_tokens
    params = [
        config.sampling(
            d.index, max_tokens=solution_tokens, **({"temperature": 0.0} if d.greedy else {})
        )
        for d in draws
    ]
    watched = monitor
    if monitor is not None and any(d.kind != COT for d in draws):
        watched = lambda i, trace: draws[i].kind == COT and monitor(i, trace)  # noqa: E731
    completions, costs = generate(ctx, [prompts[d.kind] for d in draws], params, monitor=watched)
    runs = _run_programs(ctx, [c.text if d.kind == PROGRAM else None for d, c in zip(draws, completions)])
    program_answers = [ctx.form.from_program(run.answer) if run is not None else None for run in runs]
    forced: dict[int, tuple[str, int]] = {}
    cue = ctx.form.answer_cue or ""
    if forcing:  # (a replayed solution's cached text already holds its forced answer)
        unanswered = [
            i for i, (c, run) in enumerate(zip(completions, runs))
            if (program_answers[i] is None and cue not in c.text if run is not None
                else c.finish_reason == "length" and ctx.form.extract(c.text) is None)
        ]  # fmt: skip
        forced = _force_answers(ctx, [prompts[draws[i].kind] for i in unanswered], completions, unanswered)
    samples = []
    for i, (completion, cost, run, sampling) in enumerate(zip(completions, costs, runs, params)):
        stopped = completion.finish_reason == "stopped"
        text = completion.text
        if i in forced:
            text, extra = forced[i]
            cost += extra
        if run is not None:
            answer = program_answers[i]
            if answer is None and cue and cue in text:  # a program that named no option, asked for its letter
                answer = ctx.form.extract(text)
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
    ctx: SearchContext, prefixes: Sequence[list[int]], completions: Sequence[Completion], cut: Sequence[int]
) -> dict[int, tuple[str, int]]:
    """The solutions ``cut`` (chains of thought cut off at their token limit before naming an
    answer, programs whose run named no option), each with its prompt in ``prefixes``, continued
    (greedily, all in one batch, from their own KV state) with ``ctx.form.answer_cue``: index ->
    (the text with the forced answer, its extra generated tokens)."""
    cue = ctx.form.answer_cue or ""
    if not cut:
        return {}
    cue_tokens = ctx.policy.tokenize(cue)
    extended = [list(prefix) + list(completions[i].tokens) + cue_tokens for prefix, i in zip(prefixes, cut)]
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

