"""The bench plan and its execution: which runs and pools each (model, problem) needs, running
only what the cache lacks (each result cached the moment it is done), and per-problem outcomes.

Every run starts from a cold KV cache (``forget_kv``), so its cost is what a fresh ``tts ask``
would measure, whatever ran before it on the same question.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Optional, Protocol, Sequence, Union

from tts_cli.batch import Problem
from tts_cli.bench.cache import ResultCache, cache_key, question_hash
from tts_cli.bench.pool import POOLS, interleave_pools, pool_from_solution, pool_kinds, subset_result
from tts_cli.errors import ConfigError, ModelError, TTSError
from tts_cli.strategies import Options, get_strategy
from tts_cli.strategies.options import declarations
from tts_cli.strategies.registry import flag_values
from tts_cli.strategies.sampling import COT, PROGRAM

SEARCH_SETTINGS = ("seed", "temperature", "top_p", "budget", "aggregate")
# Cache format 1 keys every search run by these strategy options, whichever strategy reads them, as
# it did before options were declared per strategy; a strategy's own options join its key as well.
KEYED_OPTIONS = ("beam_width", "max_depth", "step_tokens", "iterations", "rounds", "c_puct")
POOL_SETTINGS = ("seed", "temperature", "top_p")
GREEDY_RUN = {COT: "greedy", PROGRAM: "pot-greedy"}  # the greedy run of each kind of sample


def selects(strategy: str) -> bool:
    """Whether ``strategy`` chooses among its samples by a ``--select`` selector."""
    return any(d.name == "select" for d in declarations(get_strategy(strategy).options))


class Models(Protocol):
    """Where the bench gets its models; ``identity`` and ``name`` must not load anything."""

    def identity(self, ref: Optional[str]) -> dict[str, Any]: ...

    def name(self, ref: Optional[str]) -> str: ...

    def policy(self, ref: Optional[str]) -> Any: ...

    def verifier(self) -> Any: ...


@dataclass
class BenchPlan:
    problems: Sequence[Problem]
    models: Sequence[Optional[str]]  # policy references (None: the default policy)
    strategies: Sequence[str]
    budgets: Sequence[int]  # the values of N, ascending
    settings: Any  # SearchSettings: sampling and search options shared by every run
    fixed: dict[str, list[int]] = field(default_factory=dict)  # strategy -> its own values of N ("auto@16")
    selectors: Sequence[str] = ()  # --selectors: each evaluated on the same pools (rows "majority/SPEC", ...)
    replay: bool = False  # --replay: strategies that draw only full solutions run on the cached samples

    def replayed(self, strategy: str) -> bool:
        """Whether ``strategy`` is run on the cached greedy run and pool instead of the model."""
        info = get_strategy(strategy)
        return self.replay and info.replayable and not info.deterministic and strategy not in self.pooled

    @property
    def pooled(self) -> list[str]:
        """Strategies read from sample pools (none with --budget: its per-sample cap depends on N)."""
        if self.settings.budget is not None:
            return []
        return [s for s in self.strategies if get_strategy(s).poolable]

    @property
    def scored_pool(self) -> bool:
        return self.settings.verifier is not None and any(get_strategy(s).reads_scores for s in self.pooled)

    def budgets_for(self, strategy: str) -> list[int]:
        if get_strategy(strategy).deterministic:
            return [1]
        return list(self.fixed.get(strategy, self.budgets))

    @property
    def needs_pool(self) -> bool:
        return bool(self.pooled) or any(self.replayed(s) for s in self.strategies)

    def replays_programs(self, strategy: str) -> bool:
        """Whether a replayed ``strategy`` (with its options) draws programs too."""
        return self.replayed(strategy) and any(self.options(strategy, n).runs_programs() for n in self.budgets_for(strategy))

    @property
    def pool_kinds(self) -> list[str]:
        """The kinds of sample pool each problem needs ("cot", "program"), in that order."""
        kinds = {kind for s in self.pooled for kind in pool_kinds(get_strategy(s).samples)}
        if any(self.replayed(s) for s in self.strategies):
            kinds.add("cot")
        if any(self.replays_programs(s) for s in self.strategies):
            kinds.add("program")
        return [kind for kind in ("cot", "program") if kind in kinds]

    @property
    def pool_size(self) -> int:
        sizes = [n for s in self.strategies if s in self.pooled or self.replayed(s) for n in self.budgets_for(s)]
        return max(sizes) if sizes else 1

    def pool_rows(self, kind: str = "cot") -> list[tuple[str, str, int, Optional[str]]]:
        """(row label, strategy, N, selector spec) of every row read from a pool of ``kind``
        (the rows of a "mixed" strategy come with the program pool, the last one it needs).

        With --selectors, each strategy that selects (majority, pot, mixed) gets a row per selector,
        "S/SPEC", and, where the greedy runs of its kinds of sample are benched too, "greedy+S/SPEC":
        the greedy solutions are candidates as well (what ``--with-greedy`` does live)."""
        rows: list[tuple[str, str, int, Optional[str]]] = []
        for s in self.pooled:
            if pool_kinds(get_strategy(s).samples)[-1] != kind:
                continue
            sizes = self.budgets_for(s)
            rows += [(s, s, n, None) for n in sizes]
            if not self.selectors or not selects(s):
                continue
            rows += [(f"{s}/{spec}", s, n, spec) for spec in self.selectors for n in sizes]
            if all(lead in self.strategies for lead in self.leads(s)):
                from tts_cli.selection import parse_selector

                rows += [
                    (f"greedy+{s}/{spec}", s, n, spec)
                    for spec in self.selectors if parse_selector(spec).needs != "judge"
                    for n in sizes
                ]  # fmt: skip
        return rows

    @staticmethod
    def leads(strategy: str) -> list[str]:
        """The greedy runs that join ``strategy``'s samples in its "greedy+" rows: one per kind."""
        return [GREEDY_RUN[kind] for kind in pool_kinds(get_strategy(strategy).samples)]

    def options(self, strategy: str, n: int) -> Options:
        """The strategy's options at N: one that may not exceed N is lowered to it."""
        return self.settings.strategy_options(strategy).capped(n)

    def option_key(self, strategy: str, n: int) -> dict[str, Any]:
        """The strategy options a run's cache key holds, by dest."""
        values = flag_values(self.settings.options)
        key = {dest: values[dest] for dest in KEYED_OPTIONS if dest in values}
        options = self.options(strategy, n)
        key.update({d.spec.dest: getattr(options, d.name) for d in declarations(type(options))})
        return key


@dataclass
class Task:
    kind: str  # "run", "pool" or "replay" (computed from the cached greedy run and pool, never cached)
    model: Optional[str]
    problem: Problem
    strategy: str  # for a pool: "pool"
    n: int
    key: str
    what: dict[str, Any]
    also: tuple[str, ...] = ()  # other keys whose result would do (a scored pool serves unscored strategies)
    verified: bool = False  # the run reads the verifier (a pool: it is scored)
    samples: str = "cot"  # a pool's kind of samples


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


def question_key(problem: Problem) -> dict[str, Any]:
    """What identifies a problem's question in a cache key. A multiple-choice question adds its
    options and how it is asked (the prompts, the forced answer of a cut-off chain), so that a
    change of those is a new key; other questions keep the keys they always had."""
    from tts_cli.grading.forms import ChoiceForm, valued_as_expressions
    from tts_cli.prompts import CHOICE, PROGRAM
    from tts_cli.strategies.sampling import FORCED_ANSWER_TOKENS

    key: dict[str, Any] = {"question": question_hash(problem.question)}
    if problem.choices:
        key["choices"] = question_hash("\n".join(problem.choices))
        asked = (CHOICE.system, PROGRAM.system, ChoiceForm.answer_cue, str(FORCED_ANSWER_TOKENS))
        key["choice_prompts"] = question_hash("\n".join(asked))
        if valued_as_expressions(problem.choices):
            key["option_values"] = 1
    return key


def forget_kv(engine: Any) -> None:
    """Free the KV state earlier runs left in ``engine`` (a no-op for engines without one)."""
    if engine is None:
        return
    forget = getattr(engine, "forget", None)
    if callable(forget):
        forget()


@dataclass
class Bench:
    plan: BenchPlan
    models: Models
    cache: ResultCache
    forget: Callable[[Any], None] = forget_kv
    errors: dict[str, str] = field(default_factory=dict)  # task key -> message (not cached: retried)
    computed: int = 0
    _verdicts: dict[tuple[Optional[str], Optional[str]], bool] = field(default_factory=dict)

    # ------------------------------------------------------------------------------ the plan
    def tasks(self) -> list[Task]:
        plan = self.plan
        out: list[Task] = []
        once = [s for s in plan.strategies if get_strategy(s).deterministic]
        replayed = [s for s in plan.strategies if plan.replayed(s)]
        if replayed and "greedy" not in once:  # the replay's greedy solution
            once.append("greedy")
        if any(plan.replays_programs(s) for s in replayed) and "pot-greedy" not in once:  # and its greedy program
            once.append("pot-greedy")
        for model in plan.models:
            for problem in plan.problems:
                out.extend(self._run_task(model, problem, strategy, 1) for strategy in once)
                out.extend(self._pool_task(model, problem, kind) for kind in plan.pool_kinds)
                for strategy in plan.strategies:
                    if strategy in once or strategy in plan.pooled:
                        continue
                    kind = "replay" if strategy in replayed else "run"
                    out.extend(self._run_task(model, problem, strategy, n, kind) for n in plan.budgets_for(strategy))
        return out

    def pending(self) -> list[Task]:
        return [task for task in self.tasks() if task.kind != "replay" and self._cached(task) is None]

    def _run_task(self, model: Optional[str], problem: Problem, strategy: str, n: int, kind: str = "run") -> Task:
        settings = self.plan.settings
        what: dict[str, Any] = {
            "kind": "run",
            **question_key(problem),
            "model": self.models.identity(model),
            "strategy": strategy,
            "n": n,
            "max_tokens": settings.max_tokens,
            "budget": settings.budget,
            "system_prompt": settings.system_prompt,
        }
        info = get_strategy(strategy)
        if not info.deterministic:  # e.g. greedy: temperature 0, no verifier, no search
            what.update({name: getattr(settings, name) for name in SEARCH_SETTINGS})
            what.update(self.plan.option_key(strategy, n))
            what.update(self._verifier_identity())
        verified = settings.verifier is not None and info.reads_scores
        return Task(kind, model, problem, strategy, n, cache_key(what), what, verified=verified)

    def _pool_task(self, model: Optional[str], problem: Problem, samples: str = "cot") -> Task:
        settings = self.plan.settings
        pool = POOLS[samples]
        what: dict[str, Any] = {
            "kind": "pool",
            **question_key(problem),
            "model": self.models.identity(model),
            "max_tokens": settings.max_tokens,
            "system_prompt": settings.system_prompt,
            **{name: getattr(settings, name) for name in POOL_SETTINGS},
            "verifier": None,
            "verifier_kind": None,
            **({"samples": samples} if samples != "cot" else {}),  # cot pools keep their keys of before
        }
        scored = None
        if settings.verifier is not None:  # with --aggregate last only the last step is scored
            scored = {**what, **self._verifier_identity(), "scored_steps": "last" if settings.aggregate == "last" else "all"}
        size = self.plan.pool_size
        if self.plan.scored_pool and scored is not None:
            return Task("pool", model, problem, pool.name, size, cache_key(scored), scored, verified=True, samples=samples)
        also = (cache_key(scored),) if scored is not None else ()  # a scored pool serves unscored strategies too
        return Task("pool", model, problem, pool.name, size, cache_key(what), what, also, samples=samples)

    def _verifier_identity(self) -> dict[str, Any]:
        settings = self.plan.settings
        if settings.verifier is None:
            return {"verifier": None, "verifier_kind": None}
        return {"verifier": self.models.identity(settings.verifier), "verifier_kind": settings.verifier_kind}

    def _cached(self, task: Task) -> Optional[dict[str, Any]]:
        for key in (task.key, *task.also):
            result = self.cache.get(key)
            if result is not None and (task.kind != "pool" or result.get("size", 0) >= task.n):
                return result
        return None

    # ------------------------------------------------------------------------------ running
    def run(self, tasks: Sequence[Task], progress: Any = None, workers: int = 1) -> None:
        """Compute ``tasks``; each result is cached as soon as it is done. A per-problem failure
        is logged and remembered (not cached); a model or configuration error stops the bench.

        ``workers`` > 1 computes that many tasks at once on threads (their requests share the
        local engine's decode batch); each task then has its own cost counters, starts from
        whatever KV state the others left (no ``forget``), and only this thread writes the cache."""
        if workers <= 1:
            for task in tasks:
                self._record(task, progress, functools.partial(self._compute, task))
            return
        from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

        queue = iter(tasks)
        pending: dict[Future[dict[str, Any]], Task] = {}
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tts-bench")
        try:
            while True:
                while len(pending) < workers:
                    queued = next(queue, None)
                    if queued is None:
                        break
                    pending[pool.submit(self._compute, queued, True)] = queued
                if not pending:
                    return
                if progress is not None:
                    progress.started(len(pending))
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    self._record(task, progress, future.result)
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def _record(self, task: Task, progress: Any, compute: Callable[[], dict[str, Any]]) -> None:
        try:
            result = compute()
        except (ModelError, ConfigError):
            raise
        except TTSError as exc:
            what = f"pool of {task.n} samples" if task.kind == "pool" else f"{task.strategy} N={task.n}"
            self.errors[task.key] = str(exc)
            if progress is not None:
                progress.log(f"tts: {self.models.name(task.model)} {what}, problem {task.problem.id}: {exc}")
                progress.advance(correct=None, failed=True)
            return
        self.cache.put(task.key, task.what, result)
        self.computed += 1
        if progress is not None:
            tokens = sum(result["tokens"]) if task.kind == "pool" else result["policy_tokens"]
            progress.advance(correct=None, tokens=int(tokens))

    def _compute(self, task: Task, shared: bool = False) -> dict[str, Any]:
        from tts_cli.engine.scoped import UsageScope
        from tts_cli.prompts import prompt_set
        from tts_cli.solver import solve

        settings = self.plan.settings
        policy = self.models.policy(task.model)
        if shared:  # other tasks use the engine at the same time: a fresh verifier, scoped counters
            policy = UsageScope(policy)
            new_verifier = getattr(self.models, "new_verifier", self.models.verifier)
            verifier = new_verifier() if task.verified else None
        else:
            verifier = self.models.verifier() if task.verified else None
        config = replace(settings.search_config(), n=task.n)
        if task.kind == "pool":
            config = replace(config, budget=None)
        options = None if task.kind == "pool" else self.plan.options(task.strategy, task.n)
        for engine in (policy, getattr(verifier, "engine", None)) if not shared else ():
            self.forget(engine)
        solution = solve(
            task.problem.asked(), strategy=POOLS[task.samples] if task.kind == "pool" else task.strategy, policy=policy,
            config=config, prompts=prompt_set("math", settings.system_prompt), verifier=verifier, options=options,
        )  # fmt: skip
        if task.kind == "pool":
            return pool_from_solution(solution, seed=settings.seed)
        return run_result(solution)

    # ------------------------------------------------------------------------------ outcomes
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
                signals["judge"] = [aggregate(s, self.plan.settings.aggregate) for s in result["step_scores"]]
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
            if get_strategy(strategy).samples == "mixed":
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
        greedy = self._cached(self._run_task(task.model, task.problem, "greedy", 1))
        if pool is None or greedy is None:
            return None
        programs = program_greedy = None
        if self.plan.replays_programs(task.strategy):
            programs = self._cached(self._pool_task(task.model, task.problem, "program"))
            program_greedy = self._cached(self._run_task(task.model, task.problem, "pot-greedy", 1))
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

def run_result(solution: Any) -> dict[str, Any]:
    """The cacheable result of one search run."""
    cost = solution.cost
    verifier = cost.verifier
    result: dict[str, Any] = {
        "answer": solution.answer,
        "policy_tokens": cost.policy.generated_tokens,
        "policy_prompt_tokens": cost.policy.prompt_tokens,
        "policy_cached_tokens": cost.policy.cached_tokens,
        "verifier_tokens": (verifier.prompt_tokens + verifier.cached_tokens) if verifier is not None else 0,
        "flops": cost.flops,
        "wall_seconds": cost.wall_seconds,
    }
    route = solution.result.info.get("route") if solution.result.info else None
    if route:
        result["route"] = route
    if len(solution.result.candidates) == 1:  # greedy: a candidate like the others, with its signals
        candidate = solution.result.candidates[0]
        result["text"] = candidate.text
        result["trace"] = candidate.trace.to_dict() if candidate.trace is not None else None
    return result
