"""The compute-cost summary printed on stderr after an answer."""

from __future__ import annotations

from typing import Optional

from rich.table import Table

from tts_cli.cost import Cost, ModelUsage
from tts_cli.units import human_count


def cost_table(cost: Cost) -> Table:
    table = Table(title=None, show_edge=False, header_style="bold", pad_edge=False, box=None)
    for column in ("role", "model", "prompt", "cached", "generated", "tok/s", "FLOPs"):
        table.add_column(column, justify="left" if column in ("role", "model") else "right")
    _row(table, "policy", cost.policy)
    _row(table, "verifier", cost.verifier)
    table.caption = f"total ≈ {human_count(cost.flops)}FLOPs · wall {cost.wall_seconds:.1f} s"
    if cost.execution_seconds:
        table.caption += f" (programs {cost.execution_seconds:.1f} s)"
    if any(u is not None and u.source == "server" for u in (cost.policy, cost.verifier)):
        table.caption += " · (server): tokens as the server reported them"
    table.caption_justify = "left"
    return table


def _row(table: Table, role: str, usage: Optional[ModelUsage]) -> None:
    if usage is None:
        return
    server = usage.source == "server"
    table.add_row(
        role,
        usage.model + (" (server)" if server else ""),
        str(usage.prompt_tokens),
        str(usage.cached_tokens),
        str(usage.generated_tokens),
        f"{usage.tokens_per_second:.1f}",
        human_count(usage.flops) if usage.params else "-",  # a server model without `params`
    )
