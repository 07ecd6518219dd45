"""Equity and drawdown, returns by period and risk ratios, from the daily rollup.

The equity curve is the closed-trade equity: the starting balance plus the realized P&L
through the end of each UTC day (open positions and swaps are the paper account's own
view, ``GET /api/v1/trading/paper``). Ratios use the backtest engine's metrics
(``chainflow.backtest.api.compute_metrics``) on the dense daily curve (a day without a
closed trade is a zero return), so that live and backtest figures mean the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np

from chainflow.analytics.rollups import Figures
from chainflow.analytics.sessions import DAY_MS
from chainflow.backtest.api import AccountTotals, compute_metrics, drawdown_curve, sample_warnings

Period = Literal["day", "week", "month"]
DailyRows = Sequence[tuple[int, Figures]]


@dataclass(frozen=True, slots=True)
class EquityPoint:
    ts: int  # UTC day start
    pnl: float
    equity: float
    drawdown_pct: float


@dataclass(frozen=True, slots=True)
class PeriodReturn:
    ts: int  # period start (UTC day, Monday of the ISO week, first of the month)
    pnl: float
    return_pct: float
    trades: int
    wins: int


@dataclass(frozen=True, slots=True)
class WindowRatios:
    window_days: int | None  # None: everything
    start: int | None
    end: int | None
    observations: int
    trades: int
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    return_pct: float | None
    max_drawdown_pct: float | None
    small_sample: bool
    warnings: tuple[str, ...]


def equity_curve(daily: DailyRows, starting_balance: float) -> list[EquityPoint]:
    """Return the equity at the end of each day with closed trades, and its drawdown."""
    if not daily:
        return []
    pnl = np.array([figures.pnl for _, figures in daily], dtype=np.float64)
    equity = starting_balance + np.cumsum(pnl)
    drawdown = drawdown_curve(equity, starting_balance)
    return [
        EquityPoint(ts, float(p), float(e), float(d) * 100.0)
        for (ts, _), p, e, d in zip(daily, pnl, equity, drawdown, strict=True)
    ]


def period_start(day_ms: int, period: Period) -> int:
    """Return the start of the ``period`` holding the UTC day ``day_ms``."""
    if period == "day":
        return day_ms
    day = datetime.fromtimestamp(day_ms / 1000, tz=UTC)
    if period == "week":
        start = day - timedelta(days=day.weekday())
    else:
        start = day.replace(day=1)
    return int(start.timestamp() * 1000)


def returns_by_period(
    daily: DailyRows, starting_balance: float, period: Period
) -> list[PeriodReturn]:
    """Return the realized P&L of each period with closed trades, as money and as a share of
    the equity at the period's start."""
    groups: dict[int, Figures] = {}
    equity_before: dict[int, float] = {}
    equity = starting_balance
    for ts, figures in daily:
        start = period_start(ts, period)
        if start not in groups:
            groups[start] = Figures()
            equity_before[start] = equity
        group = groups[start]
        group.pnl += figures.pnl
        group.trades += figures.trades
        group.wins += figures.wins
        equity += figures.pnl
    return [
        PeriodReturn(
            ts=start,
            pnl=group.pnl,
            return_pct=group.pnl / equity_before[start] * 100.0 if equity_before[start] else 0.0,
            trades=group.trades,
            wins=group.wins,
        )
        for start, group in groups.items()
    ]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def dense_equity(
    daily: DailyRows, starting_balance: float, end_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return (day starts, equity) for every UTC day from the first with a trade to
    ``end_day``: days without a closed trade keep the equity of the day before."""
    first = daily[0][0]
    days = np.arange(first, end_day + DAY_MS, DAY_MS, dtype=np.int64)
    pnl = np.zeros(len(days), dtype=np.float64)
    for ts, figures in daily:
        if ts <= end_day:
            pnl[(ts - first) // DAY_MS] += figures.pnl
    return days, starting_balance + np.cumsum(pnl)


def window_ratios(
    daily: DailyRows,
    starting_balance: float,
    window_days: int | None,
    end_day: int,
    risk_free_rate: float = 0.0,
) -> WindowRatios:
    """Return Sharpe, Sortino and Calmar of the ``window_days`` days ending with
    ``end_day`` (all days when None), with the observation count and sample warnings."""
    if not daily or daily[0][0] > end_day:
        return WindowRatios(
            window_days=window_days,
            start=None,
            end=None,
            observations=0,
            trades=0,
            sharpe=None,
            sortino=None,
            calmar=None,
            return_pct=None,
            max_drawdown_pct=None,
            small_sample=True,
            warnings=("no closed trades in the window",),
        )
    days, equity = dense_equity(daily, starting_balance, end_day)
    initial = starting_balance
    if window_days is not None and len(days) > window_days:
        initial = float(equity[-window_days - 1])
        days, equity = days[-window_days:], equity[-window_days:]
    trades = sum(f.trades for ts, f in daily if days[0] <= ts <= end_day)
    totals = AccountTotals(initial_cash=initial)
    metrics = compute_metrics(equity, days, [], totals, risk_free_rate=risk_free_rate)
    metrics["num_trades"] = float(trades)
    warnings = tuple(sample_warnings(metrics))
    return WindowRatios(
        window_days=window_days,
        start=int(days[0]),
        end=int(days[-1]),
        observations=len(equity),
        trades=trades,
        sharpe=_finite(metrics["sharpe"]),
        sortino=_finite(metrics["sortino"]),
        calmar=_finite(metrics["calmar"]),
        return_pct=_finite(metrics["return_pct"]),
        max_drawdown_pct=_finite(metrics["max_drawdown_pct"]),
        small_sample=bool(warnings),
        warnings=warnings,
    )
