"""Running a bench's tasks: each computed by a fresh search (cold KV cache, so its cost is what a
fresh ``tts ask`` would measure) and cached the moment it is done."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any, Callable, Sequence

from tts_cli.bench.plan import Planner, Task
from tts_cli.bench.pool import POOLS, pool_from_solution, score_cached_pool
from tts_cli.errors import ConfigError, ModelError, TTSError


def forget_kv(engine: Any) -> None:
    """Free the KV state earlier runs left in ``engine`` (a no-op for engines without one)."""
    if engine is None:
        return
    forget = getattr(engine, "forget", None)
    if callable(forget):
        forget()


class Executor(Planner):
    """Computes tasks and caches their results."""

    forget: Callable[[Any], None]
    errors: dict[str, str]
    computed: int

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
        if shared:  # other tasks use the engine at the same time: a fresh verifier
            verifier = getattr(self.models, "new_verifier", self.models.verifier)() if task.verified else None
        else:
            verifier = self.models.verifier() if task.verified else None
        if task.verified and verifier is None:
            raise ConfigError("the bench's verifier could not be made (check --verifier and --verifier-kind)")
        drawn = self.cache.get(task.unscored) if task.unscored is not None else None
        if drawn is not None and drawn.get("texts") and drawn.get("size", 0) >= task.n and verifier is not None:
            return score_cached_pool(drawn, verifier, task.problem.asked().prompt_text(), settings.aggregate)
        policy = self.models.policy(task.model)
        if shared:  # scoped counters: its own cost
            policy = UsageScope(policy)
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
