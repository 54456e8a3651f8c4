"""How a token-level process reward model expects its input: ``PRMConfig``, the presets, and the
``[models.X.prm]`` table of models.toml read into one.

Plain data with no engine behind it, so that the model registry (``tts_cli.config``) can validate
the table without importing the verifiers; ``verifiers/token_prm.py`` scores steps with it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Optional

PRM_FORMATS: tuple[str, ...] = ("plain", "chat")


@dataclass(frozen=True)
class PRMConfig:
    """How a token PRM expects its input and where it answers.

    ``step_prefix`` is put before each step unless the step already starts with "Step"; ``{k}`` in
    it becomes the 1-based step number. ``system`` is a system message (chat) or a first line
    (plain). ``step_tag`` and ``step_separator`` only matter in plain format.
    """

    format: str
    good_token: str
    bad_token: str
    step_tag: str = ""
    step_separator: str = "\n"
    question_separator: str = " "
    step_prefix: str = ""
    system: Optional[str] = None

    def __post_init__(self) -> None:
        if self.format not in PRM_FORMATS:
            raise ValueError(f"format: {self.format!r} is not one of {', '.join(PRM_FORMATS)}")
        if self.format == "plain" and not self.step_tag:
            raise ValueError("step_tag: the plain format needs a step tag")
        if not self.good_token:
            raise ValueError("good_token: must not be empty")
        if not self.bad_token:
            raise ValueError("bad_token: must not be empty")
        if self.good_token == self.bad_token:
            raise ValueError("bad_token: must differ from good_token")


PRM_PRESETS: dict[str, PRMConfig] = {
    # peiyi9979/math-shepherd-mistral-7b-prm: f"{question} {output}", steps "Step k: ... ки" on lines
    "math-shepherd": PRMConfig(
        format="plain", step_tag=" ки", good_token="+", bad_token="-", step_prefix="Step {k}: "
    ),
    # RLHFlow/Llama3.1-8B-PRM-*: one user turn per step, assistant answers "+" or "-"
    "rlhflow": PRMConfig(format="chat", good_token="+", bad_token="-"),
}

_REQUIRED = ("format", "good_token", "bad_token")


def prm_config_from_dict(d: dict[str, Any]) -> PRMConfig:
    """A PRMConfig from a table such as ``[models.X.prm]``.

    ``preset = "NAME"`` starts from a preset and the other keys override it; without a preset
    ``format``, ``good_token`` and ``bad_token`` are required. Raises ValueError naming the bad key.
    """
    if not isinstance(d, dict):
        raise ValueError(f"prm: expected a table, got {type(d).__name__}")
    known = {f.name for f in fields(PRMConfig)}
    values = dict(d)
    base: Optional[PRMConfig] = None
    if "preset" in values:
        preset = values.pop("preset")
        if not isinstance(preset, str) or preset not in PRM_PRESETS:
            raise ValueError(f"preset: {preset!r} is not one of {', '.join(PRM_PRESETS)}")
        base = PRM_PRESETS[preset]
    for key, value in values.items():
        if key not in known:
            raise ValueError(f"{key}: unknown key; valid keys: preset, {', '.join(sorted(known))}")
        if key == "system":
            if value is not None and not isinstance(value, str):
                raise ValueError(f"system: expected a string, got {type(value).__name__}")
        elif not isinstance(value, str):
            raise ValueError(f"{key}: expected a string, got {type(value).__name__}")
    if base is not None:
        return replace(base, **values)
    for key in _REQUIRED:
        if key not in values:
            raise ValueError(f"{key}: required (or give preset = one of {', '.join(PRM_PRESETS)})")
    return PRMConfig(**values)
