"""Verifier registry. Built-ins register like plugins do; third-party packages add verifiers through
the ``tts_cli.verifiers`` entry-point group, whose objects are called with ``register_verifier``."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable, Optional

from tts_cli.engine.types import Engine
from tts_cli.errors import UsageError
from tts_cli.verifiers.base import Verifier

VerifierFactory = Callable[..., Verifier]  # (engine, **options) -> Verifier


@dataclass(frozen=True)
class VerifierInfo:
    name: str
    factory: VerifierFactory
    summary: str
    needs_model: bool = True  # False: it runs no model (``--verifier-kind`` alone selects it)
    needs_sandbox: bool = False  # it runs model-written programs


_VERIFIERS: dict[str, VerifierInfo] = {}
_loaded = False


def register_verifier(
    name: str, factory: VerifierFactory, summary: str, *, needs_model: bool = True, needs_sandbox: bool = False
) -> None:
    """Make ``factory(engine, **options)`` available as verifier kind ``name`` (later wins); a kind
    that ``needs_model`` not is called with ``engine=None``."""
    _VERIFIERS[name] = VerifierInfo(name, factory, summary, needs_model, needs_sandbox)


def _judge(engine: Engine, **options: Any) -> Verifier:
    from tts_cli.verifiers.judge import JudgeVerifier

    return JudgeVerifier(engine, **options)


def _token_prm(
    engine: Engine,
    *,
    config: Any = None,
    preset: Optional[str] = None,
    **options: Any,
) -> Verifier:
    """``config`` is a PRMConfig, a table for prm_config_from_dict or a preset name; default preset
    ``math-shepherd``."""
    from tts_cli.prm_config import PRM_PRESETS, PRMConfig, prm_config_from_dict
    from tts_cli.verifiers.token_prm import TokenPRMVerifier

    if isinstance(config, str):
        config, preset = None, config
    if config is None:
        name = preset or "math-shepherd"
        if name not in PRM_PRESETS:
            close = difflib.get_close_matches(name, list(PRM_PRESETS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"unknown PRM preset {name!r}{hint}; choose from {', '.join(PRM_PRESETS)}")
        config = PRM_PRESETS[name]
    elif isinstance(config, dict):
        table = dict(config)
        if preset is not None:
            table.setdefault("preset", preset)
        try:
            config = prm_config_from_dict(table)
        except ValueError as exc:
            raise UsageError(f"PRM configuration: {exc}") from exc
    if not isinstance(config, PRMConfig):
        raise UsageError(f"PRM configuration: expected a PRMConfig, table or preset name, got {config!r}")
    return TokenPRMVerifier(engine, config, **options)


def _program(engine: Engine, **options: Any) -> Verifier:
    from tts_cli.verifiers.program import ProgramVerifier

    return ProgramVerifier(engine, **options)


def _arithmetic(engine: Optional[Engine] = None, **options: Any) -> Verifier:
    """No model: ``engine`` is ignored. Takes no options."""
    from tts_cli.verifiers.arithmetic import ArithmeticVerifier

    if options:
        raise UsageError(f"the arithmetic verifier takes no options (got {', '.join(sorted(options))})")
    return ArithmeticVerifier()


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    register_verifier("judge", _judge, "LLM-as-judge: p(Yes) that each step is correct, any instruct model")
    register_verifier(
        "token-prm", _token_prm, "token PRM (Math-Shepherd, RLHFlow): p(good token) at each step"
    )
    register_verifier(
        "program",
        _program,
        "programs the model writes, run in the sandbox: final answers scored by agreement, steps by exact arithmetic",
        needs_sandbox=True,
    )
    register_verifier(
        "arithmetic",
        _arithmetic,
        "exact recomputation of the arithmetic claims in each step: no model, zero tokens",
        needs_model=False,
    )
    for ep in entry_points(group="tts_cli.verifiers"):
        ep.load()(register_verifier)


def available_verifiers() -> list[VerifierInfo]:
    _load()
    return list(_VERIFIERS.values())


def verifier_info(kind: str) -> VerifierInfo:
    """The registration of verifier kind ``kind`` (a UsageError naming the kinds if unknown)."""
    _load()
    info = _VERIFIERS.get(kind)
    if info is None:
        close = difflib.get_close_matches(kind, list(_VERIFIERS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(f"unknown verifier kind {kind!r}{hint}; choose from {', '.join(_VERIFIERS)}")
    return info


def make_verifier(kind: str, engine: Optional[Engine], **kwargs: Any) -> Verifier:
    """A verifier of kind ``kind`` running on ``engine`` (None for a kind that needs no model);
    ``kwargs`` go to its factory."""
    return verifier_info(kind).factory(engine, **kwargs)
