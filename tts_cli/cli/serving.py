"""What `tts serve` runs per request: the server's search settings with the request's changes,
checked as the command line checks them, and searches on the models loaded once.

``SessionService`` is the ``server.app.Service`` of a real server: ``prepare`` turns a ``Job``
into a ``Plan`` (every setting validated, the prompt measured against the context) or raises the
error the client gets; ``solve`` runs one choice's search on a per-request view of the shared
engines, so that its cost is its own and its samples join the decode batch of every other
request in flight.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

from tts_cli.cli.options import SearchSettings
from tts_cli.cli.runtime import Session, check_settings
from tts_cli.errors import ContextOverflowError, UsageError
from tts_cli.questions import Question, make_question
from tts_cli.server.protocol import Job
from tts_cli.strategies import Options, SearchConfig, available, get_strategy, strategy_flags
from tts_cli.tree import SearchTree

PROMPT_HEADROOM = 16  # tokens a prompt must leave free in the context (as solver.solve requires)


@dataclass(frozen=True)
class Plan:
    job: Job
    question: Question
    strategy: str
    config: SearchConfig
    options: Options

    @property
    def deterministic(self) -> bool:
        """A strategy that samples nothing (greedy): its ``n`` means nothing."""
        return bool(get_strategy(self.strategy).deterministic)


class SessionService:
    def __init__(self, session: Session, settings: SearchSettings) -> None:
        self.session = session
        self.settings = settings
        self.policy = session.policy.name
        self.strategies = [info.name for info in available()]
        self.default_strategy = settings.strategy
        self._flags = {flag.dest: flag for flag in strategy_flags()}

    def prepare(self, job: Job) -> Plan:
        """The request's search, checked: its settings (the server's, with the request's changes),
        its strategy's options, and its prompt against the context."""
        changes = dict(job.settings)
        if self.settings.budget is not None:  # a request may spend less than the server allows, not more
            changes["budget"] = min(changes.get("budget", self.settings.budget), self.settings.budget)
        options = dict(self.settings.options)
        options.update(self._options(changes.get("strategy", self.settings.strategy), job.options))
        settings = dataclasses.replace(self.settings, **changes, options=options)
        config = check_settings(settings)
        question = make_question(job.question, (), "the request")
        self._check_prompt(question, job)
        return Plan(job=job, question=question, strategy=settings.strategy, config=config,
                    options=settings.strategy_options())  # fmt: skip

    def solve(self, plan: Plan, choice: int, tree: Optional[SearchTree] = None) -> Any:
        """One choice's search (choice i samples with seed + i), on this request's own view of the
        engines. Runs in a worker thread; a cancelled request raises ``Cancelled`` within a step."""
        from tts_cli.solver import solve

        scoped = self.session.for_problem()
        config = dataclasses.replace(plan.config, seed=plan.config.seed + choice) if choice else plan.config
        return solve(
            plan.question, strategy=plan.strategy, policy=scoped.policy, config=config, prompts=scoped.prompts,
            verifier=scoped.verifier, tree=tree, options=plan.options, conversation=plan.job.conversation,
            system_note=plan.job.system_note,
        )  # fmt: skip

    def engine_state(self) -> dict[str, Any]:
        scheduler = getattr(self.session.policy, "scheduler", None)
        return scheduler.snapshot() if scheduler is not None else {}

    def _options(self, strategy: str, given: dict[str, Any]) -> dict[str, Any]:
        """The request's strategy options by flag dest (``with_greedy``, ``beam-width``), each of
        the declared type; an option the strategy does not have is an error naming those it has."""
        out = {}
        for key, value in given.items():
            dest = key.replace("-", "_")
            flag = self._flags.get(dest)
            if flag is None or strategy not in flag.owners:
                own = sorted(f.dest for f in self._flags.values() if strategy in f.owners)
                listed = ", ".join(["strategy", "n", "budget", "aggregate", *own])
                raise UsageError(f"tts.{key} is not an option of strategy {strategy} (its options: {listed})")
            out[dest] = _typed(key, value, flag.type)
        return out

    def _check_prompt(self, question: Question, job: Job) -> None:
        prompts = self.session.prompts
        if question.choices and prompts.for_choices is not None:
            prompts = prompts.for_choices
        policy = self.session.policy
        messages = prompts.messages(question.prompt_text(), job.conversation, job.system_note)
        length = len(policy.chat_prompt(messages))
        if length + PROMPT_HEADROOM >= policy.context_length:
            raise ContextOverflowError(
                f"the conversation takes {length} tokens, more than the {policy.context_length}-token context "
                "leaves room for; shorten it, or start the server with a larger --ctx"
            )


def _typed(key: str, value: Any, kind: Any) -> Any:
    expected = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}.get(kind, (bool, int, float, str))
    if not isinstance(value, expected) or (isinstance(value, bool) and kind in (int, float)):
        wanted = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(kind, "a scalar")
        raise UsageError(f"tts.{key} must be {wanted} (got {value!r})")
    return float(value) if kind is float and isinstance(value, (int, float)) else value
