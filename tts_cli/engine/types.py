"""Engine-facing types, free of any llama_cpp import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, Sequence

from tts_cli.cost import ModelUsage

Tokens = Sequence[int]

SIGNALS_TOP_K = 20  # top-k of DeepConf's token confidence


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40  # 0 disables; llama.cpp's default
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int = 0
    # per-token confidence signals (engine/signals.py) from the top-k log-probs; 0: none recorded
    signals_top_k: int = SIGNALS_TOP_K


@dataclass
class TokenTrace:
    """Per-token signals of one sampled continuation (one entry per generated token, EOS included)."""

    logprob: list[float] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    entropy: list[float] = field(default_factory=list)
    self_certainty: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.logprob)

    def to_dict(self, digits: int = 3) -> dict[str, list[float]]:
        return {
            "logprob": [round(v, digits) for v in self.logprob],
            "confidence": [round(v, digits) for v in self.confidence],
            "entropy": [round(v, digits) for v in self.entropy],
            "self_certainty": [round(v, digits) for v in self.self_certainty],
        }

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> "TokenTrace":
        return cls(
            logprob=list(data.get("logprob", [])),
            confidence=list(data.get("confidence", [])),
            entropy=list(data.get("entropy", [])),
            self_certainty=list(data.get("self_certainty", [])),
        )



@dataclass
class Completion:
    """One sampled continuation.

    ``tokens`` holds every sampled token up to and including the one that completed a stop string
    (an end-of-generation token is not included), so ``prefix + tokens`` is the exact state to
    continue from. ``text`` is their decoded text cut just before the stop string.
    """

    text: str
    tokens: list[int]
    finish_reason: str  # "stop" | "eos" | "length" | "stopped" (ended by a monitor)
    stop: Optional[str] = None
    generated_tokens: int = 0  # what the engine counted for this completion (a sampled EOS included)
    trace: Optional[TokenTrace] = None  # per-token signals, where the engine records them

    @property
    def finished(self) -> bool:
        """True when the model ended its answer (not merely a step or the token limit)."""
        return self.finish_reason == "eos"


@dataclass(frozen=True)
class EngineOptions:
    n_ctx: int = 16384
    n_threads: Optional[int] = None
    n_gpu_layers: int = 0
    n_seq_max: int = 64
    n_batch: int = 512
    verbose: bool = False
    cpu_repack: Optional[str] = None  # auto | on | off; None: TTS_CPU_REPACK, else auto (engine/cpu.py)


@dataclass(frozen=True)
class ServerSettings:
    """Where and how to reach a model served over the OpenAI-compatible API (``backend = "openai"``;
    models.toml's keys of the same names, read by ``tts_cli.config``)."""

    base_url: str  # e.g. http://host:8000/v1 (no trailing slash)
    model: str  # the server's name for the model
    api_key_env: Optional[str] = None  # name of the environment variable holding the key
    timeout: float = 600.0  # seconds per request
    max_retries: int = 4  # on 429/5xx and connection failures
    concurrency: int = 8  # requests in flight at once per model
    top_logprobs: int = 20  # log-probabilities asked for per position (verifiers)


class ServerModel(Protocol):
    """What ``load_server_engine`` reads of a model entry (``tts_cli.config.ModelSpec`` is one); the
    engine layer names only these fields so that it never imports the registry above it."""

    @property
    def name(self) -> str: ...
    @property
    def params(self) -> Optional[int]: ...
    @property
    def context(self) -> int: ...
    @property
    def chat_template(self) -> Optional[str]: ...
    @property
    def server(self) -> Optional[ServerSettings]: ...


# called after each token of a sequence that records signals, with (request index, its trace so
# far); True ends that sequence there (finish reason "stopped"): DeepConf's online early stop
Monitor = Callable[[int, TokenTrace], bool]


class Engine(Protocol):
    """What strategies and verifiers need from a model."""

    name: str
    n_params: int
    usage: ModelUsage
    # progress hook, set by a caller that shows progress (``tts ask``'s live tree): called during a
    # ``generate`` call with the tokens generated so far in that call; None: no calls
    on_step: Optional[Callable[[int], None]]

    @property
    def context_length(self) -> int: ...

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]: ...

    def detokenize(self, tokens: Tokens) -> str: ...

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """Render messages with the model's chat template (generation prompt added) and tokenize."""
        ...

    def generate(
        self,
        prefixes: Sequence[Tokens],
        params: Sequence[SamplingParams],
        *,
        usage: Optional[ModelUsage] = None,
        monitor: Optional[Monitor] = None,
    ) -> list[Completion]:
        """One completion per (prefix, params) pair, all decoded in one batched loop. ``monitor``
        may end single sequences between decode steps (engines that cannot, ignore it)."""
        ...

    def next_token_logprobs(
        self,
        prefixes: Sequence[Tokens],
        candidates: Sequence[int],
        *,
        usage: Optional[ModelUsage] = None,
    ) -> list[list[float]]:
        """Log-probability of each candidate token right after each prefix (one forward pass)."""
        ...

    def close(self) -> None: ...

