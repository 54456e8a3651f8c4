"""The model-name form: how a client that can only pick a model name picks a strategy.

``qwen2.5-coder-1.5b`` (the served policy) runs the server's default strategy; ``majority@qwen2.5-coder-1.5b``
another strategy; ``majority-16@qwen2.5-coder-1.5b`` with 16 samples. The policy part may be left
out (``mixed-8``), since a server serves one policy. ``/v1/models`` lists the policy and one
``STRATEGY@POLICY`` per strategy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Optional

from tts_cli.server.errors import ApiError


@dataclass(frozen=True)
class Route:
    strategy: Optional[str] = None  # None: the server's default
    samples: Optional[int] = None  # None: the request's or the server's


def model_ids(policy: str, strategies: Collection[str]) -> list[str]:
    return [policy, *(f"{name}@{policy}" for name in strategies)]


def parse_model(name: str, policy: str, strategies: Collection[str]) -> Route:
    """The route a model name asks for; a 404 ``model_not_found`` for a name this server does not serve."""
    strategy_part, at, model = name.partition("@")
    if not at:
        if name == policy:
            return Route()
        strategy_part, model = name, policy
    if model != policy:
        raise ApiError(404, f"The model '{model}' does not exist: this server serves {policy}", "model", "model_not_found")
    if strategy_part in strategies:
        return Route(strategy_part)
    base, dash, count = strategy_part.rpartition("-")
    if dash and base in strategies and count.isdigit() and not count.startswith("0"):
        return Route(base, int(count))
    raise ApiError(
        404,
        f"The model '{name}' does not exist: use {policy}, STRATEGY@{policy} or STRATEGY-N@{policy} "
        f"with a strategy among {', '.join(sorted(strategies))}",
        "model",
        "model_not_found",
    )
