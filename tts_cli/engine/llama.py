"""The llama.cpp engine: batched multi-sequence generation on one shared KV cache.

This is the only module that imports ``llama_cpp``. It uses the low-level API because the high-level
``Llama`` class decodes one sequence at a time: here K continuations of shared prefixes advance
together, one token per sequence per ``llama_decode`` call, and a prefix already held by some
sequence is copied (``llama_memory_seq_cp``) instead of being evaluated again.
"""

from __future__ import annotations

import ctypes
import faulthandler
import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from tts_cli.cost import ModelUsage
from tts_cli.engine.chat import TemplateError, render_chat
from tts_cli.engine.cpu import RepackDecision, cpu_flags, decide_cpu_repack, requested_mode
from tts_cli.engine.kvcache import SlotTable
from tts_cli.engine.scheduler import Admission, Request, Scheduler
from tts_cli.engine.signals import RowStats, record, row_stats
from tts_cli.engine.types import Completion, EngineOptions, Monitor, SamplingParams, Tokens, TokenTrace
from tts_cli.errors import ContextOverflowError, ModelError, TTSError

_backend_ready = False
_log_callback: Any = None  # keep a reference: llama.cpp calls it from C


def _init_backend(verbose: bool) -> Any:
    global _backend_ready, _log_callback
    import llama_cpp as ll

    if not _backend_ready:
        if not faulthandler.is_enabled():  # a crash in native code then names itself on stderr
            faulthandler.enable()
        if not verbose:
            @ll.llama_log_callback
            def _quiet(level: int, text: bytes, user_data: Any) -> None:
                return None

            _log_callback = _quiet
            ll.llama_log_set(_log_callback, ctypes.c_void_p(0))
        ll.llama_backend_init()
        _backend_ready = True
    return ll


def system_info() -> str:
    """llama.cpp's build and CPU feature line (``CPU : AVX2 = 1 | AMX_INT8 = 0 | …``)."""
    ll = _init_backend(False)
    return bytes(ll.llama_print_system_info() or b"").decode("utf-8", "replace").strip()


def cpu_repack_decision(ll: Any, option: Optional[str]) -> RepackDecision:
    mode = requested_mode(option)
    info = bytes(ll.llama_print_system_info() or b"").decode("utf-8", "replace")
    return decide_cpu_repack(mode, info, cpu_flags())


@dataclass
class _Finished:
    """A request done as soon as it started (scoring): nothing left to decode."""

    value: Any


@dataclass
class _Running:
    """A sequence being generated."""

    index: int
    seq_id: int
    params: SamplingParams
    sampler: Any
    pos: int  # position of the next token to evaluate
    last_token: int = -1
    tokens: list[int] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    text: str = ""
    finish_reason: Optional[str] = None
    stop: Optional[str] = None
    trace: Optional[TokenTrace] = None


@dataclass
class _Generation:
    """One ``generate`` wave on its way: its sequences, where its cost goes, its head slots."""

    prefixes: list[list[int]]
    usage: ModelUsage
    heads: list[tuple[int, int]]
    running: list[_Running] = field(default_factory=list)
    decode_started: float = 0.0
    monitor: Optional[Monitor] = None
    first_index: int = 0  # index of this wave's first request in the caller's generate call


class LlamaEngine:
    """A GGUF model loaded once, generating many sequences per batch."""

    def __init__(
        self,
        path: Path,
        *,
        name: Optional[str] = None,
        options: EngineOptions = EngineOptions(),
        chat_template: Optional[str] = None,
        n_params: Optional[int] = None,
    ) -> None:
        started = time.perf_counter()
        self._ll = ll = _init_backend(options.verbose)
        self.path = Path(path)
        self.options = options
        self._model: Any = None
        self._ctx: Any = None
        self._batch: Any = None
        self._scheduler: Optional[Scheduler] = None

        model_params = ll.llama_model_default_params()
        model_params.n_gpu_layers = options.n_gpu_layers
        self.cpu_repack = cpu_repack_decision(ll, options.cpu_repack)
        model_params.use_extra_bufts = self.cpu_repack.use_extra_bufts
        self._model = ll.llama_model_load_from_file(str(self.path).encode(), model_params)
        if not self._model:
            raise ModelError(f"llama.cpp could not load {self.path} (unsupported or corrupt GGUF)")
        self._vocab = ll.llama_model_get_vocab(self._model)
        self.n_vocab = ll.llama_vocab_n_tokens(self._vocab)
        self.n_layers = int(ll.llama_model_n_layer(self._model))

        threads = options.n_threads or max(1, os.cpu_count() or 1)
        ctx_params = ll.llama_context_default_params()
        ctx_params.n_ctx = options.n_ctx
        ctx_params.n_batch = options.n_batch
        ctx_params.n_ubatch = options.n_batch
        ctx_params.n_seq_max = options.n_seq_max
        ctx_params.n_threads = threads
        ctx_params.n_threads_batch = threads
        ctx_params.kv_unified = True  # one cell pool: copied prefixes share cells across sequences
        ctx_params.no_perf = True
        self._ctx = ll.llama_init_from_model(self._model, ctx_params)
        if not self._ctx:
            self.close()
            raise ModelError(f"llama.cpp could not create a context for {self.path} (n_ctx={options.n_ctx})")
        self._mem = ll.llama_get_memory(self._ctx)
        self.n_ctx = ll.llama_n_ctx(self._ctx)
        self.n_batch = ll.llama_n_batch(self._ctx)
        self.n_seq_max = ll.llama_n_seq_max(self._ctx)
        self._batch = ll.llama_batch_init(max(self.n_batch, self.n_seq_max), 0, 1)
        self._slots = SlotTable(self.n_seq_max)

        self.name = name or self.path.stem
        self.n_params = n_params or int(ll.llama_model_n_params(self._model))
        self._chat_template = chat_template or self._meta("tokenizer.chat_template")
        self._add_bos = bool(ll.llama_vocab_get_add_bos(self._vocab))
        self._bos_text = self._token_text(ll.llama_vocab_bos(self._vocab))
        self._eos_text = self._token_text(ll.llama_vocab_eos(self._vocab))
        self.usage = ModelUsage(model=self.name, params=self.n_params)
        self.on_step: Optional[Callable[[int], None]] = None  # progress hook: tokens generated in this call
        self.usage.load_seconds = time.perf_counter() - started

    # ----------------------------------------------------------------- text
    @property
    def context_length(self) -> int:
        return self.n_ctx

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        data = text.encode("utf-8", errors="replace")
        capacity = len(data) + 8
        buf = (self._ll.llama_token * capacity)()
        n = self._ll.llama_tokenize(self._vocab, data, len(data), buf, capacity, add_special, True)
        if n < 0:
            capacity = -n
            buf = (self._ll.llama_token * capacity)()
            n = self._ll.llama_tokenize(self._vocab, data, len(data), buf, capacity, add_special, True)
        return list(buf[:n])

    def detokenize(self, tokens: Tokens) -> str:
        return b"".join(self._piece(t) for t in tokens).decode("utf-8", errors="replace")

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> list[int]:
        try:
            text = render_chat(
                self._chat_template, messages, bos_token=self._bos_text, eos_token=self._eos_text
            )
        except TemplateError as exc:
            raise ModelError(f"{self.name}: {exc}") from exc
        has_bos_text = bool(self._bos_text) and text.startswith(self._bos_text)
        return self.tokenize(text, add_special=self._add_bos and not has_bos_text)

    def _piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self._ll.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._ll.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        return buf.raw[:n]

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        buf = ctypes.create_string_buffer(64)
        n = self._ll.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, True)
        return buf.raw[: max(n, 0)].decode("utf-8", errors="replace")

    def _meta(self, key: str) -> Optional[str]:
        size = 1 << 16
        while True:
            buf = ctypes.create_string_buffer(size)
            n = self._ll.llama_model_meta_val_str(self._model, key.encode(), buf, size)
            if n < 0:
                return None
            if n < size:
                return buf.value.decode("utf-8", errors="replace")
            size = n + 1

    def is_end_of_generation(self, token: int) -> bool:
        return bool(self._ll.llama_vocab_is_eog(self._vocab, token))

    # ----------------------------------------------------------- generation
    def generate(
        self,
        prefixes: Sequence[Tokens],
        params: Sequence[SamplingParams],
        *,
        usage: Optional[ModelUsage] = None,
        monitor: Optional[Monitor] = None,
    ) -> list[Completion]:
        if len(prefixes) != len(params):
            raise ValueError("one SamplingParams per prefix")
        usage = usage or self.usage
        results: list[Completion] = []
        wave = max(1, self.n_seq_max)
        for start in range(0, len(prefixes), wave):
            chunk, chunk_params = prefixes[start : start + wave], params[start : start + wave]
            start_wave = functools.partial(self._start_generation, chunk, chunk_params, usage, monitor, start)
            if self._batching():
                request = Request(run=start_wave, cells=self._cells_needed(chunk, chunk_params), sequences=len(chunk))
                results.extend(self._scheduler.submit(request))  # type: ignore[union-attr]
            else:
                results.extend(self._generate_alone(start_wave))
        return results

    def _generate_alone(self, start_wave: Callable[[], "_Generation"]) -> list[Completion]:
        state = start_wave()
        try:
            while self.live(state):
                self.step([state], report=True)
        except BaseException:
            self.abort(state)
            raise
        return self.complete(state)

    def _start_generation(
        self,
        prefixes: Sequence[Tokens],
        params: Sequence[SamplingParams],
        usage: ModelUsage,
        monitor: Optional[Monitor] = None,
        first_index: int = 0,
    ) -> "_Generation":
        """Prefill the prefixes and sample every sequence's first token; the state then decodes on."""
        for prefix in prefixes:
            self._check_fits(prefix)
        t0 = time.perf_counter()
        groups = _group_identical(prefixes)
        heads = self._prefill([list(prefixes[g[0]]) for g in groups], usage)
        state = _Generation(
            prefixes=[list(p) for p in prefixes], usage=usage, heads=heads, monitor=monitor, first_index=first_index
        )
        try:
            # The head slot's last decode left logits for every request sharing that prefix:
            # copy the prefix to one slot per extra request, then sample each one's first token.
            for (head_seq, logits_row), members in zip(heads, groups):
                prefix = state.prefixes[members[0]]
                logits = self._logits_rows(logits_row, 1)
                # one shared row: its signals once, with the largest top-k any member asks for
                stats = self._stats(logits, [max((params[i] for i in members), key=lambda q: q.signals_top_k)])
                for k, index in enumerate(members):
                    seq_id = head_seq if k == 0 else self._clone(head_seq, len(prefix), usage)
                    state.running.append(
                        _Running(
                            index=index,
                            seq_id=seq_id,
                            params=params[index],
                            sampler=self._make_sampler(params[index]),
                            pos=len(prefix),
                            trace=TokenTrace() if params[index].signals_top_k > 0 else None,
                        )
                    )
                    self._accept(state.running[-1], logits_row, logits, stats, 0)
        except BaseException:
            self.abort(state)
            raise
        usage.generated_tokens += len(state.running)
        state.decode_started = time.perf_counter()
        usage.prompt_seconds += state.decode_started - t0
        return state

    def live(self, state: Any) -> bool:
        return isinstance(state, _Generation) and any(r.finish_reason is None for r in state.running)

    def step(self, states: Sequence[Any], *, report: bool = False) -> int:
        """One decode for every live sequence of these generations, all in one batch; how many."""
        active = [(state, r) for state in states for r in state.running if r.finish_reason is None]
        self._batch_clear()
        for _, r in active:
            self._batch_add(r.last_token, r.pos, r.seq_id, logits=True)
        self._decode()
        logits = self._logits_rows(0, len(active))
        stats = self._stats(logits, [r.params for _, r in active])
        for row, (state, r) in enumerate(active):
            r.pos += 1
            self._accept(r, row, logits, stats, row)
            state.usage.generated_tokens += 1
            watched = r.finish_reason is None and state.monitor is not None and r.trace is not None
            # early stop never ends the last live sequence of a call: someone has to answer
            others = watched and any(o is not r and o.finish_reason is None for o in state.running)
            if others and state.monitor(state.first_index + r.index, r.trace):
                r.finish_reason = "stopped"
        if report and self.on_step is not None:
            self.on_step(sum(len(r.tokens) for state in states for r in state.running))
        return len(active)

    def complete(self, state: Any) -> Any:
        """Release a finished generation's slots (they stay as donors) and return its completions."""
        if isinstance(state, _Finished):
            return state.value
        state.usage.generate_seconds += time.perf_counter() - state.decode_started
        for r in state.running:
            self._ll.llama_sampler_free(r.sampler)
            prefix = state.prefixes[r.index]
            slot = self._slots.get(r.seq_id)
            slot.tokens = prefix + r.tokens[: max(0, r.pos - len(prefix))]
            self._slots.release(r.seq_id)
        for head_seq, _ in state.heads:
            self._slots.release(head_seq)
        ordered = sorted(state.running, key=lambda r: r.index)
        return [
            Completion(
                text=r.text,
                tokens=list(r.tokens),
                finish_reason=r.finish_reason or "length",
                stop=r.stop,
                generated_tokens=len(r.tokens) + (r.finish_reason == "eos"),
                trace=r.trace,
            )
            for r in ordered
        ]

    def abort(self, state: Any) -> None:
        """Free a generation that failed or was cancelled: its samplers and its KV sequences."""
        if not isinstance(state, _Generation):
            return
        for r in state.running:
            self._ll.llama_sampler_free(r.sampler)
            self._drop(r.seq_id)
        for head_seq, _ in state.heads:
            self._drop(head_seq)
        state.running.clear()
        state.heads.clear()

    def _cells_needed(self, prefixes: Sequence[Tokens], params: Sequence[SamplingParams]) -> int:
        distinct = {tuple(p) for p in prefixes}
        return sum(len(p) for p in distinct) + sum(min(p.max_tokens, self.n_ctx) for p in params)

    # ------------------------------------------------------------ batching
    def enable_batching(self) -> None:
        """Let several threads call ``generate``/``next_token_logprobs`` at once: their requests
        are merged into one decode loop on an engine thread (engine/scheduler.py)."""
        if self._scheduler is None:
            self._scheduler = Scheduler(self, Admission(cells=self.n_ctx, slots=self.n_seq_max), name=f"tts-{self.name}")

    def _batching(self) -> bool:
        return self._scheduler is not None and not self._scheduler.on_engine_thread

    @property
    def scheduler(self) -> Optional[Scheduler]:
        return self._scheduler

    def _logits_rows(self, first: int, count: int) -> Any:
        """A view of ``count`` consecutive output rows of logits (valid until the next decode)."""
        pointer = self._ll.llama_get_logits_ith(self._ctx, first)
        return np.ctypeslib.as_array(pointer, shape=(count, self.n_vocab))

    @staticmethod
    def _stats(logits: Any, params: Sequence[SamplingParams]) -> Optional[RowStats]:
        """Signals of the rows whose sequences record them (one top-k for all), else None."""
        wanted = [row for row, p in enumerate(params) if p.signals_top_k > 0]
        if not wanted:
            return None
        return row_stats(logits, max(params[row].signals_top_k for row in wanted), wanted)

    def _accept(self, r: _Running, logits_row: int, logits: Any, stats: Optional[RowStats], stats_row: int) -> None:
        """Sample the next token of ``r`` from ``logits_row`` and update its text, status and trace."""
        if r.params.temperature <= 0:
            # llama.cpp's greedy sampler is the first argmax of the row; numpy finds it without
            # building llama.cpp's 151k-entry candidate array for every sequence at every step
            token = int(np.argmax(logits[stats_row]))
        else:
            token = int(self._ll.llama_sampler_sample(r.sampler, self._ctx, logits_row))
        if r.trace is not None and stats is not None:
            record(r.trace, stats, stats_row, float(logits[stats_row, token]))
        if self.is_end_of_generation(token):
            r.finish_reason = "eos"
            return
        r.tokens.append(token)
        r.last_token = token
        r.raw.extend(self._piece(token))
        text = r.raw.decode("utf-8", errors="ignore")
        search_from = max(0, len(r.text) - max((len(s) for s in r.params.stop), default=0))
        r.text = text
        for stop in r.params.stop:
            at = text.find(stop, search_from)
            if at >= 0:
                r.text, r.stop, r.finish_reason = text[:at], stop, "stop"
                return
        if len(r.tokens) >= r.params.max_tokens or r.pos + 1 >= self.n_ctx:
            r.finish_reason = "length"

    def _make_sampler(self, params: SamplingParams) -> Any:
        ll = self._ll
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        if params.temperature <= 0:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
        else:
            if params.top_k > 0:
                # a top-k cut first keeps top-p from sorting the whole vocabulary (151k for Qwen)
                ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_k(params.top_k))
            if params.top_p < 1.0:
                ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_p(params.top_p, 1))
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(params.temperature))
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(params.seed & 0xFFFFFFFF))
        return chain

    # --------------------------------------------------------------- scoring
    def next_token_logprobs(
        self,
        prefixes: Sequence[Tokens],
        candidates: Sequence[int],
        *,
        usage: Optional[ModelUsage] = None,
    ) -> list[list[float]]:
        usage = usage or self.usage
        for prefix in prefixes:
            self._check_fits(prefix)
        out: list[list[float]] = []
        wave = max(1, self.n_seq_max)
        for start in range(0, len(prefixes), wave):
            chunk = prefixes[start : start + wave]
            if self._batching():
                distinct = {tuple(p) for p in chunk}
                request = Request(
                    run=functools.partial(self._score_request, chunk, candidates, usage),
                    cells=sum(len(p) for p in distinct), sequences=len(distinct),
                )
                out.extend(self._scheduler.submit(request))  # type: ignore[union-attr]
            else:
                out.extend(self._score_wave(chunk, candidates, usage))
        return out

    def _score_request(self, chunk: Sequence[Tokens], candidates: Sequence[int], usage: ModelUsage) -> "_Finished":
        return _Finished(self._score_wave(chunk, candidates, usage))

    def _score_wave(self, chunk: Sequence[Tokens], candidates: Sequence[int], usage: ModelUsage) -> list[list[float]]:
        out: list[list[float]] = [[] for _ in chunk]
        cand = np.asarray(list(candidates), dtype=np.int64)
        t0 = time.perf_counter()
        groups = _group_identical(chunk)
        heads = self._prefill([list(chunk[g[0]]) for g in groups], usage)
        try:
            for (_, row), members in zip(heads, groups):
                logits = np.ctypeslib.as_array(self._ll.llama_get_logits_ith(self._ctx, row), shape=(self.n_vocab,))
                logits = logits.astype(np.float64)
                top = logits.max()
                log_z = top + np.log(np.exp(logits - top).sum())
                values = (logits[cand] - log_z).tolist()
                for index in members:
                    out[index] = list(values)
                # identical prefixes are scored once; the duplicates reuse it entirely
                usage.cached_tokens += len(chunk[members[0]]) * (len(members) - 1)
        finally:
            for seq_id, _ in heads:
                self._slots.release(seq_id)
        usage.prompt_seconds += time.perf_counter() - t0
        return out

    # ------------------------------------------------------------- KV cache
    def _check_fits(self, prefix: Tokens) -> None:
        if len(prefix) == 0:
            raise TTSError("empty prompt")
        if len(prefix) >= self.n_ctx:
            raise ContextOverflowError(
                f"prompt of {len(prefix)} tokens does not fit the context of {self.n_ctx} tokens "
                f"({self.name}); shorten the question or raise --ctx"
            )

    def _prefill(self, prefixes: list[list[int]], usage: ModelUsage) -> list[tuple[int, int]]:
        """Make each prefix's KV state live in a slot of its own and leave logits for its last token.

        Returns (slot, logits row) per prefix. Work reused from live slots is counted as cached.
        """
        self._evict_unneeded(prefixes)
        claimed: list[tuple[int, list[int]]] = []
        try:
            for prefix in prefixes:
                seq_id = self._claim_slot()  # before choosing a donor: claiming may evict one
                self._slots.occupy(seq_id, [])
                claimed.append((seq_id, prefix))
                donor, shared = self._slots.best_donor(prefix, limit=len(prefix) - 1)
                if donor is not None and shared > 0:
                    self._ll.llama_memory_seq_cp(self._mem, donor, seq_id, 0, shared)
                    usage.cached_tokens += shared
                # Evaluate all but the last token now, so later prefixes of this call can copy
                # what they share with this one (e.g. the question, for a verifier's prompts).
                for start in range(shared, len(prefix) - 1, self.n_batch):
                    stop = min(start + self.n_batch, len(prefix) - 1)
                    self._batch_clear()
                    for pos in range(start, stop):
                        self._batch_add(prefix[pos], pos, seq_id, logits=False)
                    self._decode()
                    usage.prompt_tokens += stop - start
                self._slots.occupy(seq_id, prefix[:-1])
            # The last token of every prefix in one batch, with logits.
            self._batch_clear()
            for seq_id, prefix in claimed:
                self._batch_add(prefix[-1], len(prefix) - 1, seq_id, logits=True)
            self._decode()
            usage.prompt_tokens += len(claimed)
        except BaseException:
            for seq_id, _ in claimed:
                self._drop(seq_id)
            raise
        for seq_id, prefix in claimed:
            self._slots.get(seq_id).tokens = list(prefix)
        return [(seq_id, row) for row, (seq_id, _) in enumerate(claimed)]

    def _evict_unneeded(self, prefixes: list[list[int]]) -> None:
        """Free idle slots that no prefix of this call would copy from.

        With a unified KV cache every decode attends over the whole used cell range, so stale
        sequences slow down each step; keeping only useful donors keeps batches fast.
        """
        needed = {self._slots.best_donor(prefix, limit=len(prefix) - 1)[0] for prefix in prefixes}
        for seq_id in self._slots.live():
            if seq_id not in needed and not self._slots.get(seq_id).pinned:
                self._drop(seq_id)

    def _clone(self, source: int, length: int, usage: ModelUsage) -> int:
        seq_id = self._claim_slot()
        self._ll.llama_memory_seq_cp(self._mem, source, seq_id, 0, length)
        self._slots.occupy(seq_id, self._slots.get(source).tokens[:length])
        usage.cached_tokens += length
        return seq_id

    def _claim_slot(self) -> int:
        seq_id = self._slots.free_slot()
        if seq_id is None:
            victim = self._slots.eviction_candidate()
            if victim is None:
                raise ContextOverflowError(f"more than {self.n_seq_max} parallel sequences requested")
            self._drop(victim)
            seq_id = victim
        self._ll.llama_memory_seq_rm(self._mem, seq_id, -1, -1)
        return seq_id

    def _drop(self, seq_id: int) -> None:
        self._ll.llama_memory_seq_rm(self._mem, seq_id, -1, -1)
        self._slots.clear(seq_id)

    def _decode(self) -> None:
        """Run llama_decode; when the KV cache is full, evict idle donor slots and retry."""
        while True:
            rc = self._ll.llama_decode(self._ctx, self._batch)
            if rc == 0:
                return
            if rc == 1:
                victim = self._slots.eviction_candidate()
                if victim is not None:
                    self._drop(victim)
                    continue
                raise ContextOverflowError(
                    f"KV cache of {self.n_ctx} tokens is full ({self.name}); "
                    "lower -n / --max-tokens or raise --ctx"
                )
            if rc == 2:
                raise KeyboardInterrupt
            raise TTSError(f"llama_decode failed with status {rc} ({self.name})")

    def _batch_clear(self) -> None:
        self._batch.n_tokens = 0

    def _batch_add(self, token: int, pos: int, seq_id: int, *, logits: bool) -> None:
        b = self._batch
        i = b.n_tokens
        b.token[i] = token
        b.pos[i] = pos
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = seq_id
        b.logits[i] = 1 if logits else 0
        b.n_tokens = i + 1

    def forget(self) -> None:
        """Drop every cached sequence, so the next call starts from a cold KV cache."""
        for seq_id in self._slots.live():
            self._drop(seq_id)

    def close(self) -> None:
        ll = getattr(self, "_ll", None)
        if ll is None:
            return
        scheduler = getattr(self, "_scheduler", None)
        if scheduler is not None:
            scheduler.close()  # first: no decode may run while the context is freed; later calls fail
        if self._batch is not None:
            ll.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            ll.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            ll.llama_model_free(self._model)
            self._model = None

    def __enter__(self) -> "LlamaEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing may escape a finalizer
            pass


def _group_identical(prefixes: Sequence[Tokens]) -> list[list[int]]:
    """Indices of identical prefixes grouped together, in first-occurrence order."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, prefix in enumerate(prefixes):
        groups.setdefault(tuple(prefix), []).append(i)
    return list(groups.values())
