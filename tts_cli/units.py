"""Numbers for people: FLOPs and token counts, parameter counts and byte sizes, all scaled by
``scaled``."""

from __future__ import annotations

from typing import Optional, Sequence

Units = Sequence[tuple[float, str]]  # (threshold, suffix), largest first

SI: Units = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))
BYTES: Units = ((1e9, " GB"), (1e6, " MB"), (1e3, " KB"))


def scaled(value: float, units: Units, spec: str = ".1f") -> Optional[str]:
    """``value`` in the first of ``units`` it reaches, formatted with ``spec``; None below all."""
    for threshold, suffix in units:
        if abs(value) >= threshold:
            return f"{value / threshold:{spec}}{suffix}"
    return None


def human_count(value: float) -> str:
    """1234 -> '1.2K', 3.1e12 -> '3.1T'."""
    return scaled(value, SI) or f"{value:.0f}"


def human_params(count: Optional[int]) -> str:
    """A parameter count as model names write it: '135M', '1.5B', '5K'; '-' when unknown."""
    if count is None:
        return "-"
    return scaled(count, ((1e9, "B"),)) or scaled(count, ((1e6, "M"),), ".0f") or f"{count / 1e3:.0f}K"


def human_bytes(size: Optional[int]) -> str:
    """'98.4 MB', '1.1 GB', '12 B'; '-' when unknown."""
    if size is None:
        return "-"
    return scaled(size, BYTES) or f"{size} B"


def megabytes(size: Optional[int]) -> str:
    """Whole megabytes with thousands separators: '4,681 MB' (download notes, `tts doctor`)."""
    return f"{(size or 0) / 1e6:,.0f} MB"
