"""What the commands share at run time: validated search settings and loaded models."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from tts_cli.engine.types import Engine, EngineOptions
from tts_cli.env import Environment
from tts_cli.errors import UsageError
from tts_cli.strategies import SearchConfig


def make_config(
    *, n: int, temperature: float, top_p: float, max_tokens: int, budget: Optional[int], seed: int
) -> SearchConfig:
    if n < 1:
        raise UsageError(f"-n must be at least 1 (got {n})")
    if temperature < 0:
        raise UsageError(f"--temperature must be >= 0 (got {temperature})")
    if not 0 < top_p <= 1:
        raise UsageError(f"--top-p must be in (0, 1] (got {top_p})")
    if max_tokens < 1:
        raise UsageError(f"--max-tokens must be at least 1 (got {max_tokens})")
    if budget is not None and budget < 1:
        raise UsageError(f"--budget must be a positive number of tokens (got {budget})")
    return SearchConfig(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, budget=budget, seed=seed)


def load_policy(
    env: Environment,
    ref: Optional[str],
    models_file: Optional[Path],
    *,
    threads: Optional[int] = None,
    gpu_layers: Optional[int] = None,
    n_ctx: int = 16384,
    quiet: bool = False,
) -> Engine:
    """Resolve a model name or .gguf path, download it if needed, validate and load it."""
    from tts_cli.cli.common import ensure_with_progress
    from tts_cli.config import load_registry, resolve_model_ref
    from tts_cli.engine import load_engine
    from tts_cli.gguf import validate_gguf
    from tts_cli.store import ModelStore

    if n_ctx < 256:
        raise UsageError(f"--ctx must be at least 256 tokens (got {n_ctx})")
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be at least 1 (got {threads})")
    registry = load_registry(models_file)
    spec = resolve_model_ref(ref or registry.default_policy, registry)
    path = ensure_with_progress(env, ModelStore(), spec)
    validate_gguf(path)
    layers = spec.gpu_layers if gpu_layers is None else gpu_layers
    options = EngineOptions(n_ctx=n_ctx, n_threads=threads, n_gpu_layers=_effective_gpu_layers(layers))
    if not quiet and env.stderr_isatty:
        env.err.print(f"[dim]loading {spec.name}…[/dim]", end="\r")
    return load_engine(path, name=spec.name, options=options, chat_template=spec.chat_template, n_params=spec.params)


def _effective_gpu_layers(layers: int) -> int:
    """-1 means 'all layers'; llama.cpp's CPU build ignores offload, so this is safe everywhere."""
    return 999 if layers < 0 else layers
