"""A bench's per-problem outcomes, read from the cache: graded runs, every N of a pool read by a
strategy's own selection, and strategies replayed on cached samples (``--replay``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterator, Optional, Union

from tts_cli.bench.execute import Executor, run_result
from tts_cli.bench.plan import Task
from tts_cli.bench.pool import interleave_pools, pool_kinds, subset_result
from tts_cli.errors import TTSError
from tts_cli.strategies import get_strategy
from tts_cli.strategies.registry import greedy_run
from tts_cli.strategies.sampling import COT, PROGRAM


@dataclass
class Outcome:
    """One (model, strategy, N) on one problem."""

    model: str
    strategy: str
    n: int
    problem: Union[str, int]
    answer: Optional[str] = None
    correct: bool = False
    policy_tokens: float = 0.0
    verifier_tokens: float = 0.0
    flops: float = 0.0
    wall_seconds: float = 0.0
    selection: str = "one run per problem"
    error: Optional[str] = None
    route: Optional[dict[str, Any]] = None
    covered: Optional[bool] = None  # pass@N: some sample it drew had a right answer
    unanswered: Optional[float] = None  # the share of the samples it drew with no answer (a run: its answer)


class OutcomeReader(Executor):
    """Outcomes of the cached results; grading, signal quality and replays."""

    _verdicts: dict[tuple[Optional[str], Optional[str]], bool]

    def outcomes(self) -> Iterator[Outcome]:
        """Every (model, strategy, N, problem), from the cache (or the error it met), graded."""
        plan = self.plan
        for task in self.tasks():
            name = self.models.name(task.model)
            if task.kind == "pool":
                rows = plan.pool_rows(task.samples)
            else:
                rows = [(task.strategy, task.strategy, task.n, None)]
            result = self._cached(task) if task.kind != "replay" else None
            for label, strategy, n, spec in rows:
                outcome = Outcome(model=name, strategy=label, n=n, problem=task.problem.id)
                try:
                    values = self._values(task, result, label, strategy, n, spec)
                except TTSError as exc:
                    outcome.error = str(exc)
                    yield outcome
                    continue
                if values is None:
                    outcome.error = self.errors.get(task.key, "not run")
                    yield outcome
                    continue
                if task.kind == "pool":
                    outcome.selection = f"first {n} of a pool of {result['size']} samples (seed {result['seed']})"  # type: ignore[index]
                    outcome.covered = any(self.grade(a, task.problem.gold) for a in values["drawn"])
                elif task.kind == "replay":
                    outcome.selection = "replayed on the cached greedy run and pool"
                    outcome.route = values.get("route")
                    outcome.covered = any(self.grade(a, task.problem.gold) for a in values["drawn"])
                else:
                    outcome.route = result.get("route") if result else None
                outcome.answer = values["answer"]
                outcome.correct = self.grade(values["answer"], task.problem.gold)
                drawn = values.get("drawn") or [values["answer"]]
                outcome.unanswered = sum(a is None for a in drawn) / len(drawn)
                if outcome.covered is None:
                    outcome.covered = outcome.correct
                outcome.policy_tokens = values["policy_tokens"]
                outcome.verifier_tokens = values["verifier_tokens"]
                outcome.flops = values["flops"]
                outcome.wall_seconds = values["wall_seconds"]
                yield outcome

    def signal_quality(self) -> list[Any]:
        """AUROC of every signal of the cached pools (the judge's too, for a scored pool)."""
        from tts_cli.bench.pool import pool_signals
        from tts_cli.bench.signal_quality import signal_quality
        from tts_cli.verifiers.aggregate import aggregate

        pools = []
        for task in self.tasks():
            result = self._cached(task) if task.kind == "pool" and task.samples == "cot" else None
            if result is None:
                continue
            signals = pool_signals(result)
            if result.get("step_scores") is not None:
                name = self.plan.settings.verifier_kind or "judge"  # the verifier's kind names its row
                signals[name] = [aggregate(s, self.plan.settings.aggregate) for s in result["step_scores"]]
            pools.append((signals, list(result["answers"]), task.problem.gold))
        return signal_quality(pools, self.grade)

    def grade(self, answer: Optional[str], gold: Optional[str]) -> bool:
        """Whether ``answer`` matches ``gold``; each pair is graded once (symbolic checks are slow)."""
        from tts_cli.grading import answers_equivalent

        pair = (answer, gold)
        if pair not in self._verdicts:
            self._verdicts[pair] = answers_equivalent(*pair)
        return self._verdicts[pair]

    def _values(
        self, task: Task, result: Optional[dict[str, Any]], label: str, strategy: str, n: int, spec: Optional[str]
    ) -> Optional[dict[str, Any]]:
        plan = self.plan
        if task.kind == "replay":
            return self._replay(task)
        if result is None:
            return None
        if task.kind == "pool":
            if len(pool_kinds(get_strategy(strategy).samples)) > 1:
                cot = self._cached(self._pool_task(task.model, task.problem, "cot"))
                if cot is None:
                    return None
                result = interleave_pools(cot, result)
            options = plan.options(strategy, n)
            if spec is not None:
                options = get_strategy(strategy).make_options({"select": spec})
            leads: list[dict[str, Any]] = []
            if label.startswith("greedy+"):
                found = [self._cached(self._run_task(task.model, task.problem, lead, 1)) for lead in plan.leads(strategy)]
                if any(run is None for run in found):
                    return None
                leads = [run for run in found if run is not None]
            values = subset_result(result, strategy, n, plan.settings.aggregate, options, leads)
            values["drawn"] = list(result["answers"][: min(n, result["size"])]) + [run["answer"] for run in leads]
            return values
        return result

    def _replay(self, task: Task) -> Optional[dict[str, Any]]:
        """``task``'s strategy run on the cached greedy run and pool of its problem (--replay)."""
        from tts_cli.bench.replay import ReplayEngine
        from tts_cli.prompts import prompt_set
        from tts_cli.solver import solve

        settings = self.plan.settings
        pool = self._cached(self._pool_task(task.model, task.problem))
        greedy = self._cached(self._run_task(task.model, task.problem, greedy_run(COT), 1))
        if pool is None or greedy is None:
            return None
        programs = program_greedy = None
        if self.plan.replays_programs(task.strategy):
            programs = self._cached(self._pool_task(task.model, task.problem, "program"))
            program_greedy = self._cached(self._run_task(task.model, task.problem, greedy_run(PROGRAM), 1))
            if programs is None or program_greedy is None:
                return None
        engine = ReplayEngine(pool, greedy, seed=settings.seed, programs=programs, program_greedy=program_greedy)
        config = replace(settings.search_config(), n=task.n)
        solution = solve(
            task.problem.asked(), strategy=task.strategy, policy=engine, config=config,
            prompts=prompt_set("math", settings.system_prompt), options=self.plan.options(task.strategy, task.n),
        )  # fmt: skip
        values = run_result(solution)
        values["drawn"] = [c.answer for c in solution.result.candidates]
        if "route" in values:
            values["route"] = {**values["route"], "saved_tokens": engine.saved_tokens}
        # wall time: the greedy runs', and each pool's sampling time per generated token
        runs = {"greedy": greedy, "program-greedy": program_greedy or {}}
        per_token = {
            "sample": pool["wall_seconds"] / max(1, sum(pool["tokens"])),
            "program": (programs or {}).get("wall_seconds", 0.0) / max(1, sum((programs or {}).get("tokens", []))),
        }
        values["wall_seconds"] = sum(
            runs[kind]["wall_seconds"] if kind in runs else tokens * per_token[kind] for kind, tokens in engine.used
        )
        return values
