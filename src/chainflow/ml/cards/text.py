"""The model card in the terminal: Rich tables for ``chainflow models card``.

The same sections as the HTML page (``chainflow.ml.cards.html``) without the charts:
the data and features, the scores against the baselines with their intervals, the
reliability table and ECE, the top features, the signal backtest, the promotion decision,
the live part and a live fallback in force. Every value that came from a user or a file is
escaped for Rich markup.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chainflow.ml.cards.types import Calibration, FallbackPart, ModelCard

__all__ = ["print_card"]


def print_card(card: ModelCard, console: Console) -> None:
    """Print ``card`` as tables and lines."""
    console.print(f"[bold]Model card {escape(card.ref)}[/]", highlight=False)
    console.print(f"verdict ({card.verdict.status}): {escape(card.verdict.sentence)}")
    console.print(f"promotion: {escape(card.promotion.decision)}", highlight=False)
    console.print(_about(card))
    if card.verdict.comparisons:
        console.print(_comparisons(card))
    if card.calibration is not None:
        console.print(_calibration(card.calibration))
    if card.importance is not None:
        top = ", ".join(f"{w.feature} {_number(w.value)}" for w in card.importance.permutation)
        console.print(f"top features (permutation): {escape(top)}", highlight=False)
    console.print(_backtest_line(card), highlight=False)
    console.print(_live(card))
    if card.fallback is not None:
        console.print(_fallback_line(card.fallback), highlight=False)


def _fallback_line(fallback: FallbackPart) -> str:
    return (
        f"[bold]live fallback since {_time(fallback.since_ts)}[/]: {escape(fallback.model)} "
        f"is served as {escape(fallback.serves)} ({escape(fallback.reason)}: "
        f"{escape(fallback.detail)}; decided by {escape(fallback.decided_by)})"
    )


def _about(card: ModelCard) -> Table:
    table = Table(title=f"{card.owner} model {card.name}, version {card.version}")
    table.add_column("")
    table.add_column("")
    rows = [
        ("family", ", ".join(card.members)),
        ("symbols", ", ".join(card.data.symbols)),
        ("timeframe", card.data.timeframe),
        ("data", f"{_time(card.data.from_ts)} to {_time(card.data.to_ts)}"),
        ("rows", "-" if card.data.rows is None else str(card.data.rows)),
        ("label", ", ".join(f"{k}={v}" for k, v in card.label.items())),
        ("feature set", f"{card.features.feature_set} ({card.features.count} features)"),
        ("fingerprint", card.features.fingerprint),
        ("stage", card.promotion.stage),
        ("promoted", _moment(card.promotion.promoted_at)),
    ]
    if card.promotion.forced:
        rows.append(("forced by", f"{card.promotion.forced_by or '-'}: {card.promotion.reason}"))
    for score in card.scores:
        metrics = ", ".join(f"{k} {_number(v)}" for k, v in score.metrics.items())
        rows.append((score.name, metrics))
    for key, value in rows:
        table.add_row(key, escape(value))
    return table


def _comparisons(card: ModelCard) -> Table:
    verdict = card.verdict
    table = Table(
        title=f"Against the baselines ({verdict.method}, blocks of {verdict.block} rows, "
        f"{verdict.resamples} resamples; improvement > 0: better)"
    )
    for column in ("target", "metric", "baseline", "model", "baseline value", "improvement"):
        table.add_column(column, justify="right")
    for column in ("95% interval", "p", "beats"):
        table.add_column(column, justify="right")
    for c in verdict.comparisons:
        table.add_row(
            c.target,
            c.metric.replace("_", " "),
            escape(c.baseline.replace("_", " ")),
            _number(c.model),
            _number(c.baseline_value),
            _number(c.improvement),
            f"[{_number(c.low)}, {_number(c.high)}]",
            _number(c.p_value),
            "yes" if c.beats else "no",
        )
    return table


def _calibration(calibration: Calibration) -> Table:
    method = calibration.method or "none"
    table = Table(title=f"Calibration ({escape(method)}): ECE {_number(calibration.ece)}")
    for column in ("bin", "rows", "confidence", "hit rate"):
        table.add_column(column, justify="right")
    for b in calibration.bins:
        table.add_row(
            f"{b.low:.1f}-{b.high:.1f}", str(b.rows), _number(b.confidence), _number(b.hit_rate)
        )
    return table


def _backtest_line(card: ModelCard) -> str:
    backtest = card.backtest
    if backtest is None:
        return "signal backtest: none recorded"
    if backtest.skipped:
        return f"signal backtest: skipped ({escape(backtest.skipped)})"
    line = (
        f"signal backtest of the OOS predictions: return {_percent(backtest.total_return)}, "
        f"Sharpe {_number(backtest.sharpe)}, max drawdown {_percent(backtest.max_drawdown)}, "
        f"{backtest.trades} trades over {backtest.bars} bars"
    )
    return line + (f" ({escape(backtest.warning)})" if backtest.warning else "")


def _live(card: ModelCard) -> Table | str:
    live = card.live
    if not live.symbols:
        return f"live since promotion: {escape(live.note)}"
    table = Table(title=f"Live since promotion: {escape(live.note)}")
    for column in ("symbol", "timeframe", "scored", "hit rate", "Brier", "baseline", "below"):
        table.add_column(column, justify="right")
    for s in live.symbols:
        table.add_row(
            escape(s.symbol),
            s.timeframe,
            str(s.scored),
            _number(s.hit_rate),
            _number(s.brier),
            _number(s.baseline_accuracy),
            "yes" if s.below_baseline else "no",
        )
    return table


def _number(value: float | None) -> str:
    return f"{value:.4g}" if value is not None and math.isfinite(value) else "-"


def _percent(value: float | None) -> str:
    return f"{value:+.2%}" if value is not None and math.isfinite(value) else "-"


def _time(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _moment(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat(timespec="seconds")
