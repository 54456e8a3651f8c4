"""Model engines. ``tts_cli.engine.llama`` is the only module importing ``llama_cpp``; it is imported
lazily here so that commands such as ``tts --help`` stay instant. ``tts_cli.engine.openai`` serves
the same protocol from an OpenAI-compatible inference server (``backend = "openai"``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from tts_cli.engine.types import Completion, Engine, EngineOptions, SamplingParams, ServerModel, ServerSettings

__all__ = [
    "Completion",
    "Engine",
    "EngineOptions",
    "SamplingParams",
    "ServerModel",
    "ServerSettings",
    "load_engine",
    "load_server_engine",
]


def load_engine(
    path: Path,
    *,
    name: str,
    options: EngineOptions,
    chat_template: Optional[str] = None,
    n_params: Optional[int] = None,
) -> Engine:
    """Load a GGUF file into llama.cpp, after checking its header and length (a truncated or
    foreign file raises ModelError here instead of reaching llama.cpp)."""
    from tts_cli.engine.llama import LlamaEngine
    from tts_cli.gguf import validate_gguf

    validate_gguf(path)
    return LlamaEngine(path, name=name, options=options, chat_template=chat_template, n_params=n_params)


def load_server_engine(spec: ServerModel) -> Engine:
    """The engine for a ``backend = "openai"`` model entry (a ``ModelSpec``), connected."""
    from tts_cli.engine.openai import load_server_engine as load

    return load(spec)
