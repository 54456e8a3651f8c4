"""Engine-facing types, free of any llama_cpp import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol, Sequence

from tts_cli.cost import ModelUsage

Tokens = Sequence[int]


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40  # 0 disables; llama.cpp's default
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int = 0


@dataclass
class Completion:
    """One sampled continuation.

    ``tokens`` holds every sampled token up to and including the one that completed a stop string
    (an end-of-generation token is not included), so ``prefix + tokens`` is the exact state to
    continue from. ``text`` is their decoded text cut just before the stop string.
    """

    text: str
    tokens: list[int]
    finish_reason: str  # "stop" | "eos" | "length"
    stop: Optional[str] = None
    generated_tokens: int = 0  # what the engine counted for this completion (a sampled EOS included)

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


class Engine(Protocol):
    """What strategies and verifiers need from a model."""

    name: str
    n_params: int
    usage: ModelUsage

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
    ) -> list[Completion]:
        """One completion per (prefix, params) pair, all decoded in one batched loop."""
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

