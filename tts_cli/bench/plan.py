"""The bench plan: which runs and sample pools each (model, problem) needs, and the cache key of
each (what changes a result is in its key; see ``bench.cache``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, Sequence

from tts_cli.batch import Problem
from tts_cli.bench.cache import KEYED_OPTIONS, ResultCache, cache_key, question_hash
from tts_cli.bench.pool import POOLS, pool_kinds
from tts_cli.settings import SearchSettings
from tts_cli.strategies import Options, get_strategy
from tts_cli.strategies.options import declarations
from tts_cli.strategies.registry import flag_values, greedy_run, selecting
from tts_cli.strategies.sampling import COT, PROGRAM

SEARCH_SETTINGS = ("seed", "temperature", "top_p", "budget", "aggregate")
POOL_SETTINGS = ("seed", "temperature", "top_p")


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
    settings: SearchSettings  # sampling and search options shared by every run
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
        return self.verifying and any(get_strategy(s).reads_scores for s in self.pooled)

    @property
    def verifying(self) -> bool:
        """Whether runs have a verifier: a model (--verifier), or a model-free --verifier-kind."""
        return self.settings.verifier is not None or model_free(self.settings.verifier_kind)

    def budgets_for(self, strategy: str) -> list[int]:
        if get_strategy(strategy).deterministic:
            return [1]
        return list(self.fixed.get(strategy, self.budgets))

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
            if not self.selectors or s not in selecting():
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
        return [greedy_run(kind) for kind in pool_kinds(get_strategy(strategy).samples)]

    def options(self, strategy: str, n: int) -> Options:
        """The strategy's options at N: one that may not exceed N is lowered to it."""
        return self.settings.strategy_options(strategy).capped(n)

    def option_key(self, strategy: str, n: int) -> dict[str, Any]:
        """The strategy options a run's cache key holds, by dest."""
        values = flag_values(self.settings.options)
        key = {dest: values[dest] for dest in KEYED_OPTIONS if dest in values}
        options = self.options(strategy, n)
        for d in declarations(type(options)):
            value = getattr(options, d.name)
            if not (d.spec.added_later and value == d.default):
                key[d.spec.dest] = value
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
    unscored: Optional[str] = None  # a scored pool: the key of the same pool unscored, which it may score


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


def program_key(problem: Problem) -> dict[str, Any]:
    """What a task that runs programs adds to its key on a multiple-choice question: the program
    prompt such a question is asked with (``prompts.PROGRAM_CHOICE``) and that a program naming no
    option is asked for its letter, so that programs drawn before either existed are drawn again
    and chain-of-thought results keep their keys."""
    from tts_cli.prompts import PROGRAM

    choice = PROGRAM.for_choices
    if not problem.choices or choice is None:
        return {}
    asked = [choice.system, *(text for example in choice.examples for text in example), "forced program answers"]
    return {"program_prompt": question_hash("\n".join(asked))}


def model_free(verifier_kind: Optional[str]) -> bool:
    """Whether ``verifier_kind`` names a verifier that runs no model (``arithmetic``)."""
    if verifier_kind is None:
        return False
    from tts_cli.verifiers.registry import verifier_info

    return not verifier_info(verifier_kind).needs_model


class Planner:
    """The tasks of a bench (its ``plan``), each keyed, and what of them the cache holds."""

    plan: BenchPlan
    models: Models
    cache: ResultCache

    def tasks(self) -> list[Task]:
        plan = self.plan
        out: list[Task] = []
        once = [s for s in plan.strategies if get_strategy(s).deterministic]
        replayed = [s for s in plan.strategies if plan.replayed(s)]
        if replayed and greedy_run(COT) not in once:  # the replay's greedy solution
            once.append(greedy_run(COT))
        if any(plan.replays_programs(s) for s in replayed) and greedy_run(PROGRAM) not in once:  # and its program
            once.append(greedy_run(PROGRAM))
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
        if info.needs_sandbox or self.plan.options(strategy, n).runs_programs():
            what.update(program_key(problem))
        if not info.deterministic:  # e.g. greedy: temperature 0, no verifier, no search
            what.update({name: getattr(settings, name) for name in SEARCH_SETTINGS})
            what.update(self.plan.option_key(strategy, n))
            what.update(self._verifier_identity())
        verified = self.plan.verifying and info.reads_scores
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
            **(program_key(problem) if pool.needs_sandbox else {}),
        }
        scored = None
        if self.plan.verifying:  # with --aggregate last only the last step is scored
            scored = {**what, **self._verifier_identity(), "scored_steps": "last" if settings.aggregate == "last" else "all"}
        size = self.plan.pool_size
        if self.plan.scored_pool and scored is not None:  # scored from the unscored pool when that is cached
            return Task("pool", model, problem, pool.name, size, cache_key(scored), scored, verified=True,
                        samples=samples, unscored=cache_key(what))  # fmt: skip
        also = (cache_key(scored),) if scored is not None else ()  # a scored pool serves unscored strategies too
        return Task("pool", model, problem, pool.name, size, cache_key(what), what, also, samples=samples)

    def _verifier_identity(self) -> dict[str, Any]:
        settings = self.plan.settings
        if settings.verifier is None:
            return {"verifier": None, "verifier_kind": settings.verifier_kind if self.plan.verifying else None}
        return {"verifier": self.models.identity(settings.verifier), "verifier_kind": settings.verifier_kind}

    def _cached(self, task: Task) -> Optional[dict[str, Any]]:
        for key in (task.key, *task.also):
            result = self.cache.get(key)
            if result is not None and (task.kind != "pool" or result.get("size", 0) >= task.n):
                return result
        return None
