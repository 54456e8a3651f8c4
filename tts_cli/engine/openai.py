"""The inference-server engine: the Engine protocol over an OpenAI-compatible ``/v1/completions``.

It lets every strategy and verifier run unchanged against llama.cpp's ``llama-server``,
llama-cpp-python's server, vLLM or SGLang, on this machine or another one.

Tokens. Strategies speak in token lists, but the server's tokenizer is out of reach (a round trip
per ``tokenize`` would be slow, and not every server offers one). So this engine's "tokens" are
opaque ids of interned text chunks: ``tokenize(text)`` is ``[id of text]``, ``detokenize`` joins
chunks, and a completion's ``tokens`` are ``[id of its text + the stop string that ended it]``, so
``prefix + completion.tokens`` is again exactly the text to continue from. Everything that is
*counted* — ``Completion.generated_tokens``, budgets, the cost table — comes from the server's
``usage`` fields, i.e. real model tokens, labelled ``source = "server"``. A verifier's candidate
"token" (" Yes") is looked up by its text among the top log-probabilities the server returns.

Prompts are rendered here with the chat template (models.toml ``chat_template``, else ChatML) and
sent as raw text: continuing a partial solution needs raw prompts, which chat endpoints do not
take. BOS is not rendered; the server adds it as its tokenizer says.

Sampling. Requests with the same prompt and settings (seeds aside) go out as one request with
``n`` choices; a server that returns fewer choices than asked (llama-cpp-python's ignores ``n``)
gets the rest, and every later group, as concurrent single requests — at most ``concurrency`` in
flight per model. Each request carries its sample's seed.

End of a step. OpenAI's ``finish_reason = "stop"`` does not tell an end-of-sequence from a stop
string. vLLM's ``stop_reason`` and SGLang's ``matched_stop`` do and are used when present.
Otherwise (llama-server, llama-cpp-python): no stop strings asked, or an empty text, means end of
sequence; else the (first) stop string is assumed. A step-level search on such a server therefore
reads an end of sequence in mid-solution as the end of a step; the solution still ends at its boxed
answer.

Cached tokens: ``usage.prompt_tokens_details.cached_tokens`` (OpenAI, vLLM) or llama-server's
``timings.cache_n``; the rest of ``prompt_tokens`` counts as evaluated.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Sequence

from tts_cli.cost import ModelUsage
from tts_cli.engine.chat import TemplateError, render_chat
from tts_cli.engine.http import HTTPClient, Refused
from tts_cli.engine.types import Completion, Monitor, SamplingParams, ServerModel, ServerSettings, Tokens
from tts_cli.errors import ConfigError, ModelError, ServerError, TTSError


@dataclass
class _Tally:
    """Server-reported usage of the requests of one call."""

    prompt: int = 0
    cached: int = 0
    generated: int = 0

    def add_to(self, usage: ModelUsage) -> None:
        usage.source = "server"  # also on counters the engine did not create (a verifier's own)
        usage.prompt_tokens += self.prompt
        usage.cached_tokens += self.cached
        usage.generated_tokens += self.generated


class OpenAIEngine:
    """A model behind an OpenAI-compatible server (see the module docstring)."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        name: str,
        api_key: Optional[str] = None,
        n_params: Optional[int] = None,
        context: int = 4096,
        chat_template: Optional[str] = None,
        client: Optional[HTTPClient] = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.n_params = n_params or 0  # unknown: FLOPs are reported as 0 ("-" in the table)
        self.client = client or HTTPClient(
            settings.base_url, name=name, api_key=api_key, timeout=settings.timeout, max_retries=settings.max_retries
        )
        self._context = context
        self._chat_template = chat_template
        self.usage = ModelUsage(model=name, params=self.n_params, source="server")
        self.on_step: Optional[Callable[[int], None]] = None  # progress hook: tokens generated in this call
        self._chunks: list[str] = []
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()
        self.parallel_n: Optional[bool] = None  # does the server honour `n`? learnt on first use
        self._pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix=f"tts-{name}")

    def connect(self) -> None:
        """Fail now if the server cannot be reached or refuses the key; read its context length
        when it reports one (vLLM's ``max_model_len``)."""
        started = time.perf_counter()
        try:
            data = self.client.get("/models")
        except Refused as exc:
            if exc.status != 404:  # a server without /models is fine; a wrong key is not
                raise
            data = {}
        for entry in data.get("data") or []:
            if isinstance(entry, dict) and entry.get("id") == self.settings.model:
                length = entry.get("max_model_len")
                if isinstance(length, int) and length > 0:
                    self._context = length
        self.usage.load_seconds = time.perf_counter() - started

    # ----------------------------------------------------------------- text
    @property
    def context_length(self) -> int:
        return self._context

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        if not text:
            return []
        with self._lock:
            token = self._ids.get(text)
            if token is None:
                token = self._ids[text] = len(self._chunks)
                self._chunks.append(text)
        return [token]

    def detokenize(self, tokens: Tokens) -> str:
        try:
            return "".join(self._chunks[t] for t in tokens)
        except IndexError:
            raise ValueError(f"{self.name}: unknown token id in {list(tokens)[:8]}") from None

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> list[int]:
        try:
            text = render_chat(self._chat_template, messages)
        except TemplateError as exc:
            raise ModelError(f"{self.name}: {exc}") from exc
        return self.tokenize(text)

    # ----------------------------------------------------------- generation
    def generate(
        self,
        prefixes: Sequence[Tokens],
        params: Sequence[SamplingParams],
        *,
        usage: Optional[ModelUsage] = None,
        monitor: Optional[Monitor] = None,  # not applied: a server completes each request whole
    ) -> list[Completion]:
        if len(prefixes) != len(params):
            raise ValueError("one SamplingParams per prefix")
        usage = usage or self.usage
        started = time.perf_counter()
        prompts = [self._prompt_text(prefix) for prefix in prefixes]
        groups: dict[tuple[str, SamplingParams], list[int]] = {}
        for i, (prompt, p) in enumerate(zip(prompts, params)):
            groups.setdefault((prompt, replace(p, seed=0)), []).append(i)
        results: list[Optional[Completion]] = [None] * len(prefixes)
        pending: dict[Future[dict[str, Any]], list[int]] = {}
        tally = _Tally()

        def submit(indices: list[int]) -> None:
            body = self._sampling_body(prompts[indices[0]], params[indices[0]], n=len(indices))
            pending[self._pool.submit(self.client.post, "/completions", body)] = indices

        for indices in groups.values():
            if len(indices) > 1 and self.parallel_n is not False:
                submit(indices)
            else:
                for i in indices:
                    submit([i])
        try:
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for future in done:
                    indices = pending.pop(future)
                    completions = self._completions(future.result(), [params[i] for i in indices], tally)
                    if len(indices) > 1:
                        self.parallel_n = len(completions) == len(indices)
                    for i, completion in zip(indices, completions):
                        results[i] = completion
                    for i in indices[len(completions) :]:  # `n` ignored: the rest one by one
                        submit([i])
                if self.on_step is not None:
                    self.on_step(tally.generated)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        finally:
            tally.add_to(usage)
            usage.generate_seconds += time.perf_counter() - started
        missing = [i for i, c in enumerate(results) if c is None]
        if missing:  # every index is submitted until answered; this would be a bug here
            raise RuntimeError(f"no completion for requests {missing}")
        return [c for c in results if c is not None]

    def _sampling_body(self, prompt: str, p: SamplingParams, *, n: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "prompt": prompt,
            "max_tokens": p.max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "min_p": 0.0,  # llama.cpp's servers default to 0.05; the local engine uses none
            "seed": p.seed & 0x7FFFFFFF,
            "stream": False,
        }
        if p.top_k > 0:
            body["top_k"] = p.top_k
        if p.stop:
            body["stop"] = list(p.stop)
        if n > 1:
            body["n"] = n
        return body

    def _completions(self, data: dict[str, Any], params: list[SamplingParams], tally: _Tally) -> list[Completion]:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) for c in choices):
            raise ServerError(f"{self.name}: the server's answer has no choices")
        choices = sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c.get("index"), int) else 0)
        choices = choices[: len(params)]
        generated = self._count(data, tally)
        endings = [_ending(self.name, choice, p) for choice, p in zip(choices, params)]
        shares = split_tokens(
            generated, [len(text) + len(stop or "") for text, _, stop in endings], [p.max_tokens + 1 for p in params]
        )
        return [
            Completion(
                text=text,
                tokens=self.tokenize(text + (stop or "")),
                finish_reason=reason,
                stop=stop,
                generated_tokens=share,
            )
            for (text, reason, stop), share in zip(endings, shares)
        ]

    def _count(self, data: dict[str, Any], tally: _Tally) -> int:
        """Add a response's ``usage`` to ``tally``; return its completion tokens."""
        usage = data.get("usage")
        if not isinstance(usage, dict) or not isinstance(usage.get("completion_tokens"), int):
            raise ServerError(f"{self.name}: the server's answer has no usage.completion_tokens; tts needs token counts")
        reported = usage.get("prompt_tokens")
        prompt = reported if isinstance(reported, int) else 0
        details = usage.get("prompt_tokens_details")
        timings = data.get("timings")
        if isinstance(details, dict):
            reused = details.get("cached_tokens")
        else:  # llama-server reports the prompt tokens it reused from its cache here
            reused = timings.get("cache_n") if isinstance(timings, dict) else None
        cached = min(reused, prompt) if isinstance(reused, int) and reused > 0 else 0
        tally.prompt += prompt - cached
        tally.cached += cached
        tally.generated += usage["completion_tokens"]
        return int(usage["completion_tokens"])

    # --------------------------------------------------------------- scoring
    def next_token_logprobs(
        self,
        prefixes: Sequence[Tokens],
        candidates: Sequence[int],
        *,
        usage: Optional[ModelUsage] = None,
    ) -> list[list[float]]:
        """One 1-token greedy completion per distinct prefix with ``logprobs``; a candidate absent
        from the returned top log-probabilities gets -inf."""
        usage = usage or self.usage
        started = time.perf_counter()
        wanted = [self.detokenize([c]) for c in candidates]
        prompts = [self._prompt_text(prefix) for prefix in prefixes]
        unique = list(dict.fromkeys(prompts))
        tally = _Tally()
        futures = [self._pool.submit(self.client.post, "/completions", self._scoring_body(p)) for p in unique]
        rows: dict[str, list[float]] = {}
        try:
            for prompt, future in zip(unique, futures):
                data = future.result()
                self._count(data, tally)
                top = self._top_logprobs(data)
                rows[prompt] = [float(top.get(text, float("-inf"))) for text in wanted]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        finally:
            tally.add_to(usage)
            usage.prompt_seconds += time.perf_counter() - started
        return [list(rows[p]) for p in prompts]

    def _scoring_body(self, prompt: str) -> dict[str, Any]:
        return {
            "model": self.settings.model,
            "prompt": prompt,
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": self.settings.top_logprobs,
            "seed": 0,
            "stream": False,
        }

    def _top_logprobs(self, data: dict[str, Any]) -> dict[str, float]:
        """Token text -> log-probability at the first generated position, from either the
        completions format (``top_logprobs: [{token: logprob}]``) or the chat format
        (``content: [{top_logprobs: [{token, logprob}]}]``, llama-server)."""
        choices = data.get("choices")
        logprobs = choices[0].get("logprobs") if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
        missing = ModelError(
            f"{self.name}: the server returned no log-probabilities, which verifiers need "
            "(llama-cpp-python: --logits_all true; vLLM: raise --max-logprobs or lower top_logprobs)"
        )
        if not isinstance(logprobs, dict):
            raise missing
        top = logprobs.get("top_logprobs")
        if isinstance(top, list):
            first = top[0] if top else {}
            return {str(k): v for k, v in first.items() if isinstance(v, (int, float))} if isinstance(first, dict) else {}
        content = logprobs.get("content")
        if isinstance(content, list):
            entries = content[0].get("top_logprobs") if content and isinstance(content[0], dict) else []
            return {
                str(e["token"]): e["logprob"]
                for e in entries or []
                if isinstance(e, dict) and "token" in e and isinstance(e.get("logprob"), (int, float))
            }
        raise missing

    # ---------------------------------------------------------------- misc
    def _prompt_text(self, prefix: Tokens) -> str:
        text = self.detokenize(prefix)
        if not text:
            raise TTSError("empty prompt")
        return text

    def close(self) -> None:
        """Abort requests in flight (Ctrl-C must not wait for them) and stop the request threads."""
        self.client.abort()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _ending(name: str, choice: dict[str, Any], params: SamplingParams) -> tuple[str, str, Optional[str]]:
    """(text cut before any stop string, finish reason "eos" | "stop" | "length", stop string)."""
    text = choice.get("text")
    if not isinstance(text, str):
        raise ServerError(f"{name}: a choice in the server's answer has no text")
    # A server that ignored `stop` returns text past it: cut there as the local engine would.
    hits = [(text.find(s), s) for s in params.stop if s and s in text]
    if hits:
        at, stop = min(hits)
        return text[:at], "stop", stop
    reason = choice.get("finish_reason")
    if reason != "stop":
        return text, "length", None  # "length", or an abort: not a finished answer either way
    for key in ("stop_reason", "matched_stop"):  # vLLM, SGLang: the stop string, or None / a token id
        if key in choice:
            value = choice[key]
            if isinstance(value, str) and value in params.stop:
                return text, "stop", value
            return text, "eos", None
    if not params.stop or not text.strip():
        return text, "eos", None
    return text, "stop", params.stop[0]


def split_tokens(total: int, weights: Sequence[int], caps: Sequence[int]) -> list[int]:
    """``total`` split over choices in proportion to ``weights`` (largest remainders), at most
    ``caps[i]`` each where the total allows; the parts always sum to ``total``."""
    n = len(weights)
    if n == 0:
        return []
    if n == 1:
        return [total]
    weight_sum = sum(weights)
    exact = [total * w / weight_sum for w in weights] if weight_sum > 0 else [total / n] * n
    parts = [int(x) for x in exact]
    for i in sorted(range(n), key=lambda i: parts[i] - exact[i])[: total - sum(parts)]:
        parts[i] += 1
    excess = sum(max(0, p - c) for p, c in zip(parts, caps))
    parts = [min(p, c) for p, c in zip(parts, caps)]
    for i in range(n):
        room = max(0, caps[i] - parts[i])
        moved = min(room, excess)
        parts[i] += moved
        excess -= moved
    parts[max(range(n), key=lambda i: parts[i])] += excess  # only when total > sum(caps)
    return parts


def load_server_engine(spec: ServerModel) -> OpenAIEngine:
    """The engine for a ``backend = "openai"`` model, connected (the server answered)."""
    settings = spec.server
    if settings is None:
        raise ConfigError(f"{spec.name}: not a server model")
    api_key = None
    if settings.api_key_env:
        api_key = os.environ.get(settings.api_key_env)
        if not api_key:
            raise ConfigError(
                f"{spec.name}: environment variable {settings.api_key_env} (api_key_env in models.toml) is not set"
            )
    engine = OpenAIEngine(
        settings, name=spec.name, api_key=api_key, n_params=spec.params, context=spec.context, chat_template=spec.chat_template
    )
    try:
        engine.connect()
    except BaseException:
        engine.close()
        raise
    return engine
