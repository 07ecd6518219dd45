"""The figures of one report period, from the tenant's closed trades (no I/O here).

The period's equity starts at the closed-trade equity when it opens (the starting balance
plus every trade closed before) and moves with each trade closed inside it; its drawdown
is measured from the highest equity since the period opened, so a report speaks of its own
period only. Figures are those of the analytics endpoints (``Figures`` of the rollups,
``drawdown_curve`` of the backtest metrics) restricted to the period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chainflow.analytics.api import ClosedTrade
from chainflow.analytics.reports.periods import ReportPeriod
from chainflow.analytics.rollups import Figures
from chainflow.backtest.api import drawdown_curve


@dataclass(frozen=True, slots=True)
class SymbolRow:
    """One symbol's realized figures in the period."""

    symbol: str
    trades: int
    wins: int
    pnl: float
    hit_rate: float | None


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """The closed-trade equity after a trade (the first point: the period's opening)."""

    ts: int
    equity: float
    drawdown_pct: float


@dataclass(frozen=True, slots=True)
class ReportFigures:
    """Everything a report shows; equal in the e-mail and in its PDF."""

    period: ReportPeriod
    opening_equity: float
    closing_equity: float
    pnl: float
    return_pct: float
    trades: int
    wins: int
    win_rate: float | None
    profit_factor: float | None
    max_drawdown_pct: float
    symbols: tuple[SymbolRow, ...]
    curve: tuple[CurvePoint, ...]

    @property
    def empty(self) -> bool:
        return self.trades == 0


def period_figures(
    period: ReportPeriod, opening_equity: float, trades: Sequence[ClosedTrade]
) -> ReportFigures:
    """Return the figures of ``trades`` closed in ``period`` (others are ignored)."""
    inside = sorted(
        (t for t in trades if period.start_ms <= t.exit_ts < period.end_ms),
        key=lambda t: (t.exit_ts, t.seq),
    )
    total = Figures()
    per_symbol: dict[str, Figures] = {}
    for trade in inside:
        total.add(trade.pnl)
        per_symbol.setdefault(trade.symbol, Figures()).add(trade.pnl)
    pnl = np.array([t.pnl for t in inside], dtype=np.float64)
    equity = opening_equity + np.concatenate(([0.0], np.cumsum(pnl)))
    drawdown = drawdown_curve(equity, opening_equity) * 100.0
    times = [period.start_ms, *(t.exit_ts for t in inside)]
    curve = tuple(
        CurvePoint(ts, float(e), float(d)) for ts, e, d in zip(times, equity, drawdown, strict=True)
    )
    symbols = tuple(
        SymbolRow(symbol, f.trades, f.wins, f.pnl, f.hit_rate)
        for symbol, f in sorted(per_symbol.items(), key=lambda item: (-item[1].pnl, item[0]))
    )
    return ReportFigures(
        period=period,
        opening_equity=opening_equity,
        closing_equity=float(equity[-1]),
        pnl=total.pnl,
        return_pct=total.pnl / opening_equity * 100.0 if opening_equity else 0.0,
        trades=total.trades,
        wins=total.wins,
        win_rate=total.hit_rate,
        profit_factor=total.profit_factor,
        max_drawdown_pct=float(drawdown.max()),
        symbols=symbols,
        curve=curve,
    )
