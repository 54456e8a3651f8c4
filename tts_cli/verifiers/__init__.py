"""Verifiers: scores for the steps of partial or complete solutions, computed through llama.cpp."""

from __future__ import annotations

from tts_cli.verifiers.aggregate import AGGREGATIONS, aggregate
from tts_cli.verifiers.base import Verifier
from tts_cli.verifiers.judge import JudgeVerifier
from tts_cli.verifiers.registry import available_verifiers, make_verifier, register_verifier
from tts_cli.verifiers.token_prm import PRM_PRESETS, PRMConfig, TokenPRMVerifier, prm_config_from_dict

__all__ = [
    "AGGREGATIONS",
    "PRM_PRESETS",
    "JudgeVerifier",
    "PRMConfig",
    "TokenPRMVerifier",
    "Verifier",
    "aggregate",
    "available_verifiers",
    "make_verifier",
    "prm_config_from_dict",
    "register_verifier",
]
