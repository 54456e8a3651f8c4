"""Model engines. ``tts_cli.engine.llama`` is the only module importing ``llama_cpp``; it is imported
lazily here so that commands such as ``tts --help`` stay instant."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from tts_cli.engine.types import Completion, Engine, EngineOptions, SamplingParams

__all__ = ["Completion", "Engine", "EngineOptions", "SamplingParams", "load_engine"]


def load_engine(
    path: Path,
    *,
    name: str,
    options: EngineOptions,
    chat_template: Optional[str] = None,
    n_params: Optional[int] = None,
) -> Engine:
    from tts_cli.engine.llama import LlamaEngine

    return LlamaEngine(path, name=name, options=options, chat_template=chat_template, n_params=n_params)
