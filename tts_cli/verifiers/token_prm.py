"""Token-level process reward models read through next-token log-probs (no value head needed).

Two layouts, both configuration rather than code (``PRMConfig``, in ``tts_cli.prm_config``):

* ``plain`` (Math-Shepherd): the text ``question + question_separator + step 1 + step_tag +
  step_separator + step 2 + step_tag ...``. The model was trained so that the logits *at* each tag
  token (the distribution of the token following it) put their mass on ``good_token`` or
  ``bad_token``; the reference code reads ``logits[input_ids == tag_id]`` without a shift. So the
  prefix for step k ends with step k's tag, included, and the candidates are the good/bad tokens.
* ``chat`` (RLHFlow): user turn 1 = question + question_separator + step 1, then an assistant turn
  answering ``good_token``, user turn 2 = step 2, ... The score of step k is read as the first
  token of the assistant turn after user turn k (earlier turns answered with the good token).

Score = p(good) / (p(good) + p(bad)). Every (solution, step) prefix goes into one batched call.
"""

from __future__ import annotations

from typing import Optional, Sequence

from tts_cli.cost import ModelUsage
from tts_cli.engine.types import Engine
from tts_cli.prm_config import PRM_FORMATS, PRM_PRESETS, PRMConfig, prm_config_from_dict
from tts_cli.verifiers._scoring import binary_score, single_token, steps_to_score

__all__ = ["PRM_FORMATS", "PRM_PRESETS", "PRMConfig", "TokenPRMVerifier", "prm_config_from_dict"]


class TokenPRMVerifier:
    """Scores steps with a token PRM described by a PRMConfig (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        config: PRMConfig,
        *,
        name: Optional[str] = None,
        usage: Optional[ModelUsage] = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.name = name or f"prm:{engine.name}"
        self.usage = usage if usage is not None else ModelUsage(model=engine.name, params=engine.n_params)
        self.good_id = single_token(engine, config.good_token, "good token")
        self.bad_id = single_token(engine, config.bad_token, "bad token")

    def _step(self, text: str, k: int) -> str:
        text = text.strip()
        tag = self.config.step_tag.strip()
        if self.config.format == "plain" and tag:
            text = text.replace(tag, "").strip()  # a stray tag would read as an extra step
        if self.config.step_prefix and not text.lower().startswith("step"):
            text = self.config.step_prefix.replace("{k}", str(k)) + text
        return text

    def plain_text(self, question: str, steps: Sequence[str], k: int) -> str:
        """The plain-format text for step ``k`` (1-based): ends with step k's tag."""
        c = self.config
        body = c.step_separator.join(self._step(s, i + 1) + c.step_tag for i, s in enumerate(steps[:k]))
        head = f"{c.system}\n" if c.system else ""
        return head + question.strip() + c.question_separator + body

    def chat_messages(self, question: str, steps: Sequence[str], k: int) -> list[dict[str, str]]:
        """The chat for step ``k`` (1-based): ends with user turn k (the generation prompt follows)."""
        c = self.config
        messages: list[dict[str, str]] = [{"role": "system", "content": c.system}] if c.system else []
        for i, step in enumerate(steps[:k]):
            text = self._step(step, i + 1)
            content = question.strip() + c.question_separator + text if i == 0 else text
            if i > 0:
                messages.append({"role": "assistant", "content": c.good_token})
            messages.append({"role": "user", "content": content})
        return messages

    def prefix(self, question: str, steps: Sequence[str], k: int) -> list[int]:
        if self.config.format == "chat":
            return self.engine.chat_prompt(self.chat_messages(question, steps, k))
        return self.engine.tokenize(self.plain_text(question, steps, k), add_special=True)

    def score(
        self, question: str, solutions: Sequence[Sequence[str]], *, last_only: bool = False
    ) -> list[list[float]]:
        pairs = steps_to_score(solutions, last_only)
        out: list[list[float]] = [[] for _ in solutions]
        if not pairs:
            return out
        prefixes = [self.prefix(question, solutions[i], k) for i, k in pairs]
        rows = self.engine.next_token_logprobs(prefixes, [self.good_id, self.bad_id], usage=self.usage)
        for (i, _), row in zip(pairs, rows):
            out[i].append(binary_score(row[:1], row[1:]))
        return out
