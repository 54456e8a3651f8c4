"""Compute accounting: tokens evaluated by llama.cpp per model, FLOPs and wall time.

Every token a model touches is counted exactly once in one of three buckets:
``prompt_tokens`` (evaluated by a forward pass as input), ``cached_tokens`` (input whose KV state was
reused from another sequence instead of being evaluated), ``generated_tokens`` (sampled).
FLOPs are estimated as 2 x parameters x (evaluated + generated) tokens.

``source`` says who counted: ``"local"`` (the llama.cpp engine in this process, exact) or
``"server"`` (an inference server's ``usage`` fields, taken as reported).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Optional


@dataclass
class ModelUsage:
    model: str
    params: int
    prompt_tokens: int = 0
    cached_tokens: int = 0
    generated_tokens: int = 0
    prompt_seconds: float = 0.0
    generate_seconds: float = 0.0
    load_seconds: float = 0.0
    source: str = "local"

    @property
    def flops(self) -> float:
        return 2.0 * self.params * (self.prompt_tokens + self.generated_tokens)

    @property
    def tokens_per_second(self) -> float:
        return self.generated_tokens / self.generate_seconds if self.generate_seconds > 0 else 0.0

    def snapshot(self) -> "ModelUsage":
        return ModelUsage(**asdict(self))

    def since(self, earlier: "ModelUsage") -> "ModelUsage":
        """Usage accumulated after ``earlier`` was snapshotted (load time stays as is)."""
        delta = self.snapshot()
        for f in fields(self):
            if f.name in ("model", "params", "load_seconds", "source"):
                continue
            setattr(delta, f.name, getattr(self, f.name) - getattr(earlier, f.name))
        return delta

    def add(self, other: "ModelUsage") -> None:
        for f in fields(self):
            if f.name in ("model", "params", "source"):
                continue
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "params": self.params,
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "generated_tokens": self.generated_tokens,
            "flops": self.flops,
            "prompt_seconds": round(self.prompt_seconds, 4),
            "generate_seconds": round(self.generate_seconds, 4),
            "load_seconds": round(self.load_seconds, 4),
            "tokens_per_second": round(self.tokens_per_second, 2),
            "source": self.source,
        }


@dataclass
class Cost:
    policy: ModelUsage
    verifier: Optional[ModelUsage] = None
    wall_seconds: float = 0.0
    execution_seconds: float = 0.0  # running model-written programs in the sandbox (part of wall_seconds)

    @property
    def flops(self) -> float:
        return self.policy.flops + (self.verifier.flops if self.verifier else 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.to_dict(),
            "verifier": self.verifier.to_dict() if self.verifier else None,
            "flops": self.flops,
            "wall_seconds": round(self.wall_seconds, 4),
            "execution_seconds": round(self.execution_seconds, 4),
        }
