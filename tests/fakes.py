"""A scripted engine for fast strategy tests: characters are tokens, replies come from a script."""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Union

from tts_cli.cost import ModelUsage
from tts_cli.engine.monitor import apply_monitor
from tts_cli.engine.types import Completion, Monitor, SamplingParams, Tokens, TokenTrace

Script = Callable[[str, SamplingParams, int], str]  # (text so far, params, request index) -> reply
Confidence = Callable[[str], Sequence[float]]  # reply -> token confidence of each of its tokens


class ScriptedEngine:
    """Implements the Engine protocol without a model.

    Tokens are Unicode code points, so token counts are character counts. ``script`` is either a
    function of (text so far, params, index) or a list of replies handed out in order (cycling).
    """

    def __init__(
        self,
        script: Union[Script, Sequence[str]],
        *,
        name: str = "scripted",
        n_params: int = 1000,
        confidence: Optional[Confidence] = None,
    ) -> None:
        if callable(script):
            self._script: Script = script
        else:
            replies = list(script)
            counter = {"i": 0}

            def from_list(text: str, params: SamplingParams, index: int) -> str:
                reply = replies[counter["i"] % len(replies)]
                counter["i"] += 1
                return reply

            self._script = from_list
        self.name = name
        self.n_params = n_params
        self.usage = ModelUsage(model=name, params=n_params)
        self.on_step: Optional[Callable[[int], None]] = None  # the protocol's progress hook (not called)
        self.calls: list[int] = []  # batch size of every generate call
        # with ``confidence``, completions carry a trace: that confidence per token, log-prob
        # -1/confidence, entropy 1/confidence, self-certainty = confidence; a monitor is applied
        self.confidence = confidence
        self._seen: set[tuple[int, ...]] = set()

    @property
    def context_length(self) -> int:
        return 100_000

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        return [ord(c) for c in text]

    def detokenize(self, tokens: Tokens) -> str:
        return "".join(chr(t) for t in tokens)

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> list[int]:
        return self.tokenize("".join(f"<{m['role']}>{m['content']}\n" for m in messages) + "<assistant>")

    def generate(
        self,
        prefixes: Sequence[Tokens],
        params: Sequence[SamplingParams],
        *,
        usage: Optional[ModelUsage] = None,
        monitor: Optional[Monitor] = None,
    ) -> list[Completion]:
        usage = usage or self.usage
        self.calls.append(len(prefixes))
        out = []
        for index, (prefix, p) in enumerate(zip(prefixes, params)):
            self._count_prefix(prefix, usage)
            reply = self._script(self.detokenize(prefix), p, index)
            completion = self._complete(reply, p)
            if self.confidence is not None and p.signals_top_k > 0:
                completion.trace = self._trace(completion)
            out.append(completion)
        if monitor is not None:
            apply_monitor(out, monitor, self.detokenize)
        usage.generated_tokens += sum(c.generated_tokens for c in out)
        return out

    def _trace(self, completion: Completion) -> TokenTrace:
        assert self.confidence is not None
        values = list(self.confidence(completion.text))
        count = completion.generated_tokens
        values = (values + [values[-1] if values else 1.0] * count)[:count]
        return TokenTrace(
            logprob=[-1.0 / max(v, 1e-9) for v in values], confidence=values,
            entropy=[1.0 / max(v, 1e-9) for v in values], self_certainty=list(values),
        )  # fmt: skip

    def next_token_logprobs(
        self, prefixes: Sequence[Tokens], candidates: Sequence[int], *, usage: Optional[ModelUsage] = None
    ) -> list[list[float]]:
        raise NotImplementedError("scripted verifiers score directly")

    def close(self) -> None:
        pass

    def _count_prefix(self, prefix: Tokens, usage: ModelUsage) -> None:
        key = tuple(prefix)
        if key in self._seen:
            usage.cached_tokens += len(prefix)
        else:
            usage.prompt_tokens += len(prefix)
            self._seen.add(key)

    @staticmethod
    def _complete(reply: str, params: SamplingParams) -> Completion:
        text, finish, stop = reply, "eos", None
        for s in params.stop:
            at = text.find(s)
            if at >= 0:
                text, finish, stop = text[:at], "stop", s
                reply = reply[: at + len(s)]
                break
        if len(reply) > params.max_tokens:
            reply = reply[: params.max_tokens]
            text, finish, stop = reply, "length", None
        # like llama.cpp: an answer that ends costs one more sampled token (the end-of-generation one)
        return Completion(
            text=text,
            tokens=[ord(c) for c in reply],
            finish_reason=finish,
            stop=stop,
            generated_tokens=len(reply) + (finish == "eos"),
        )


class ScriptedVerifier:
    """Scores each step from a dict keyed by the step text; counts one unit of usage per scored step."""

    name = "scripted-prm"

    def __init__(self, scores: Optional[dict[str, float]] = None, default: float = 0.5) -> None:
        self.scores = dict(scores or {})
        self.default = default
        self.usage = ModelUsage(model=self.name, params=500)
        self.calls: list[int] = []  # solutions per score call
        self.scored_steps = 0

    def score(
        self, question: str, solutions: Sequence[Sequence[str]], *, last_only: bool = False
    ) -> list[list[float]]:
        self.calls.append(len(solutions))
        out = []
        for steps in solutions:
            chosen = list(steps[-1:]) if last_only else list(steps)
            self.scored_steps += len(chosen)
            self.usage.prompt_tokens += sum(max(1, len(s)) for s in chosen)
            out.append([self.scores.get(s, self.default) for s in chosen])
        return out


def generated(text: str) -> str:
    """What the policy generated so far (the text after the chat prompt)."""
    return text.rsplit("<assistant>", 1)[-1]


def install_plugin(monkeypatch: Any, setup: Callable[[Callable[..., Any]], None]) -> None:
    """Make ``setup`` an installed ``tts_cli.strategies`` entry point for one test."""
    from tts_cli.strategies import registry

    registry.available()  # the built-ins register on first use; the copy below keeps them

    class EntryPoint:
        def load(self) -> Callable[[Callable[..., Any]], None]:
            return setup

    monkeypatch.setattr(registry, "_STRATEGIES", dict(registry._STRATEGIES))
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "entry_points", lambda group: [EntryPoint()] if group == "tts_cli.strategies" else [])
