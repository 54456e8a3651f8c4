"""The bench's outputs: a table on stdout (Rich in a terminal, TSV otherwise), the JSON summary and
the accuracy-versus-FLOPs plot (matplotlib, an optional extra: ``pip install "tts-cli[plot]"``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from tts_cli.bench.rows import Row
from tts_cli.errors import OutputError, UsageError
from tts_cli.safe_text import one_line
from tts_cli.units import human_count

PARETO = "★"
FORMATS = ("auto", "tsv", "markdown")
TSV_COLUMNS = (
    "model", "strategy", "n", "accuracy", "ci_low", "ci_high", "problems", "errors", "policy_tokens",
    "verifier_tokens", "flops", "wall_seconds", "pareto", "coverage", "no_answer",
)  # fmt: skip


def print_table(env: Any, rows: Sequence[Row], output_format: str = "auto") -> None:
    """The rows on stdout: Rich in a terminal and TSV otherwise (``auto``), ``tsv`` or ``markdown``."""
    if output_format == "markdown":
        env.stdout.write(markdown_table(rows))
        env.stdout.flush()
        return
    if output_format == "auto" and env.stdout_isatty:
        env.out.print(rich_table(rows))
        return
    env.stdout.write("\t".join(TSV_COLUMNS) + "\n")
    for row in rows:
        data = row.to_dict()
        data["pareto"] = PARETO if row.pareto else ""
        env.stdout.write("\t".join(_tsv(data[column]) for column in TSV_COLUMNS) + "\n")
    env.stdout.flush()


def _cells(row: Row) -> list[str]:
    """A row's cells; names made inert (a --reprint file is anybody's text)."""
    low, high = row.ci
    return [
        one_line(row.model), one_line(row.strategy), str(row.n), f"{100 * row.accuracy:.1f}% ({100 * low:.1f}–{100 * high:.1f})",
        f"{100 * row.coverage:.1f}%", f"{100 * row.unanswered:.1f}%", f"{row.policy_tokens:.0f}",
        f"{row.verifier_tokens:.0f}", human_count(row.flops), f"{row.wall_seconds:.2f}", PARETO if row.pareto else "",
    ]  # fmt: skip


HEADERS = ["model", "strategy", "N", "accuracy (95% CI)", "pass@N", "no answer", "policy tok", "verifier tok", "FLOPs", "wall s", PARETO]
LEFT = ("model", "strategy", "accuracy (95% CI)")


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a GitHub Markdown table (what docs/results.md holds), errors as a column when any."""
    headers = list(HEADERS)
    with_errors = any(r.errors for r in rows)
    if with_errors:
        headers.insert(4, "errors")
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" if h in LEFT else "---:" for h in headers) + "|"]
    for row in rows:
        cells = _cells(row)
        if with_errors:
            cells.insert(4, str(row.errors))
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + f"\n\n{PARETO} Pareto-optimal: no other row is as accurate for fewer mean FLOPs per problem\n"


def rich_table(rows: Sequence[Row]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(header_style="bold", show_edge=False, pad_edge=False)
    headers = list(HEADERS)
    with_errors = any(r.errors for r in rows)
    if with_errors:
        headers.insert(4, "errors")
    for header in headers:
        table.add_column(header, justify="left" if header in LEFT else "right")
    # pass@N: the share of problems where some sample the row drew was right (what a perfect selector gets)
    for row in rows:
        cells = _cells(row)
        if with_errors:
            cells.insert(4, str(row.errors))
        table.add_row(*(Text(cell) for cell in cells), style="bold" if row.pareto else None)  # no markup
    table.caption = f"{PARETO} Pareto-optimal: no other row is as accurate for fewer mean FLOPs per problem"
    table.caption_justify = "left"
    return table


def signal_table(quality: Sequence[Any]) -> Any:
    """AUROC of each signal for a right answer, across and within questions."""
    from rich.table import Table

    table = Table(header_style="bold", show_edge=False, pad_edge=False, title="signal quality (AUROC, right vs wrong)")
    for header in ("signal", "across questions", "within a question", "questions", "samples"):
        table.add_column(header, justify="left" if header == "signal" else "right")
    for q in quality:
        table.add_row(q.signal, _auroc(q.across), _auroc(q.within), str(q.questions), str(q.samples))
    table.caption = "within: mean AUROC over questions with both right and wrong samples; 0.5 = chance"
    table.caption_justify = "left"
    return table


def _auroc(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}"


def summary(rows: Sequence[Row], parameters: dict[str, Any], signals: Sequence[Any] = ()) -> dict[str, Any]:
    out = {"command": "bench", "parameters": parameters, "rows": [row.to_dict() for row in rows]}
    if signals:
        out["signal_quality"] = list(signals)
    return out


def write_json(path: Path, rows: Sequence[Row], parameters: dict[str, Any], signals: Sequence[Any] = ()) -> None:
    text = json.dumps(summary(rows, parameters, signals), indent=2, ensure_ascii=False) + "\n"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_outcomes(path: Path, outcomes: Sequence[Any], golds: dict[Any, Any]) -> None:
    """One JSON line per outcome (model, strategy, N, problem), with the problem's gold answer."""
    from dataclasses import asdict

    try:
        with path.open("w", encoding="utf-8") as handle:
            for outcome in outcomes:
                record = asdict(outcome)
                record["gold"] = golds.get(outcome.problem)
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_outcomes(path: Path) -> list[Any]:
    """The outcomes of a --per-problem file (what ``write_outcomes`` wrote)."""
    from dataclasses import fields

    from tts_cli.bench.outcomes import Outcome

    names = {f.name for f in fields(Outcome)}
    outcomes = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--reprint: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            outcomes.append(Outcome(**{k: v for k, v in record.items() if k in names}))
        except (json.JSONDecodeError, TypeError) as exc:
            raise UsageError(f"--reprint: {path}, line {number}: not a per-problem record of tts bench ({exc})") from None
    if not outcomes:
        raise UsageError(f"--reprint: no per-problem records in {path}")
    return outcomes


def require_matplotlib() -> Any:
    """matplotlib's pyplot on the Agg backend, or a usage error saying how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError('--plot needs matplotlib: pip install "tts-cli[plot]" (or pip install matplotlib)') from None
    return plt


def plot(path: Path, rows: Sequence[Row]) -> None:
    """Accuracy (with its Wilson interval) against mean FLOPs per problem, log x; one line per
    (model, strategy), each point labelled with its N; Pareto-optimal points starred."""
    plt = require_matplotlib()
    figure, axes = plt.subplots(figsize=(8, 5.5))
    lines: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row.flops > 0 and row.problems > row.errors:
            lines.setdefault((row.model, row.strategy), []).append(row)
    for (model, strategy), points in lines.items():
        points.sort(key=lambda r: r.n)
        xs = [r.flops for r in points]
        ys = [100 * r.accuracy for r in points]
        low = [100 * (r.accuracy - r.ci[0]) for r in points]
        high = [100 * (r.ci[1] - r.accuracy) for r in points]
        drawn = axes.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=3, label=f"{model} · {strategy}")
        colour = drawn[0].get_color()
        for bars in drawn[2]:
            bars.set_alpha(0.35)
        for r, x, y in zip(points, xs, ys):
            axes.annotate(f"N={r.n}", (x, y), textcoords="offset points", xytext=(4, 5), fontsize=8, color=colour)
            if r.pareto:
                axes.plot([x], [y], marker="*", markersize=14, color=colour, markeredgecolor="black", zorder=5)
    axes.set_xscale("log")
    axes.set_xlabel("mean FLOPs per problem (log scale)")
    axes.set_ylabel("accuracy (%), 95% Wilson interval")
    axes.set_ylim(-2, 102)
    axes.grid(True, which="both", alpha=0.3)
    axes.set_title(f"accuracy vs compute ({PARETO} Pareto-optimal)")
    if lines:
        axes.legend(fontsize=8)
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=120)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(figure)


def _tsv(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return one_line(str(value))
