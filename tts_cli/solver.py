"""Answer one question with a strategy: build the prompt, run the search, measure the cost."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

from tts_cli.cost import Cost
from tts_cli.engine.types import Engine
from tts_cli.errors import ContextOverflowError
from tts_cli.grading.forms import FreeForm, form_of
from tts_cli.prompts import PromptSet
from tts_cli.questions import Question
from tts_cli.strategies import Options, SearchConfig, SearchContext, SearchResult, StrategyInfo, get_strategy
from tts_cli.tree import SearchTree
from tts_cli.verifiers.base import Verifier


@dataclass
class Solution:
    question: str
    strategy: str
    result: SearchResult
    tree: SearchTree
    cost: Cost
    form: FreeForm = field(default_factory=FreeForm)  # the kind of answer: how it is shown and described

    @property
    def answer(self) -> Optional[str]:
        return self.result.answer

    @property
    def shown_answer(self) -> str:
        """The answer as a person reads it: ``B) 5 cents``, ``steel``, ``72``, or ``(no answer)``."""
        return self.form.shown(self.answer)

    def to_dict(self, *, include_tree: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "question": self.question,
            **self.form.describe(self.answer),
            "answer": self.answer,
            "strategy": self.strategy,
            "chosen": self.result.chosen,
            "candidates": [c.to_dict() for c in self.result.candidates],
            "cost": self.cost.to_dict(),
        }
        if self.result.info:
            data["info"] = self.result.info
        if include_tree:
            data["tree"] = self.tree.to_dict()
        return data


def solve(
    question: Union[str, Question],
    *,
    strategy: Union[str, StrategyInfo],
    policy: Engine,
    config: SearchConfig,
    prompts: PromptSet,
    verifier: Optional[Verifier] = None,
    tree: Optional[SearchTree] = None,
    options: Optional[Options] = None,
    conversation: Sequence[dict[str, str]] = (),
    system_note: str = "",
) -> Solution:
    """Answer ``question`` with ``strategy`` (a registered name, or an unregistered StrategyInfo);
    ``options``: the strategy's own options (None: its defaults). A ``Question`` with choices is
    asked with its lettered options (``prompts.for_choices``) and answered with a letter; a plain
    string is taken as it is (``questions.make_question`` finds options written in a text).
    ``conversation``: earlier user/assistant turns the question follows (a chat client's), and
    ``system_note`` the client's own system message: both go into the policy's prompt only."""
    asked = question if isinstance(question, Question) else Question(question)
    form = form_of(asked)
    text = asked.prompt_text()
    if asked.choices and prompts.for_choices is not None:
        prompts = prompts.for_choices
    info = get_strategy(strategy) if isinstance(strategy, str) else strategy
    started = time.perf_counter()
    policy_before = policy.usage.snapshot()
    verifier_usage = getattr(verifier, "usage", None)
    verifier_before = verifier_usage.snapshot() if verifier_usage is not None else None
    verifier_execution = getattr(verifier, "execution_seconds", 0.0)

    prompt = policy.chat_prompt(prompts.messages(text, conversation, system_note))
    if len(prompt) + 16 >= policy.context_length:
        raise ContextOverflowError(
            f"the question takes {len(prompt)} tokens, more than the {policy.context_length}-token "
            "context leaves room for; shorten it or raise --ctx"
        )
    tree = tree or SearchTree(text)
    ctx = SearchContext(
        question=text, prompt=prompt, policy=policy, config=config, tree=tree, verifier=verifier, options=options,
        form=form,
    )
    result = info.run(ctx)
    cost = Cost(
        policy=policy.usage.since(policy_before),
        verifier=verifier_usage.since(verifier_before) if verifier_usage is not None and verifier_before else None,
        wall_seconds=time.perf_counter() - started,
        execution_seconds=ctx.execution_seconds + getattr(verifier, "execution_seconds", 0.0) - verifier_execution,
    )
    return Solution(question=text, strategy=info.name, result=result, tree=tree, cost=cost, form=form)
