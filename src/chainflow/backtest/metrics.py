"""Performance metrics: pure functions of the equity curve, the trades and the cost totals.

Conventions (also in ``docs/backtesting.md``):

- Returns are simple per-bar returns of the equity curve, the first measured against the
  starting cash.
- ``periods_per_year`` is given or inferred from the bars: ``n_bars / span_years`` with
  ``span = ts[-1] - ts[0] + median bar spacing`` and a year of 365.25 days, so market
  closures (FX weekends) are accounted for: M1 FX gives about 372,000. Fewer than two bars
  gives 252.
- Sharpe ``= mean(r - rf) / std(r) * sqrt(ppy)`` (sample std), Sortino uses the downside
  deviation ``sqrt(mean(min(r - rf, 0)^2))``; ``rf = (1 + risk_free_rate)^(1/ppy) - 1``.
- A ratio with a zero denominator is NaN (``null`` in JSON), except the profit factor with
  winning trades and no losing trade, which is infinite (also ``null`` in JSON).
- Observations: ``bars`` (the returns the risk ratios are computed from), ``span_days``
  (the calendar time they cover, as ``periods_per_year`` measures it) and ``num_trades``.
  ``sample_warnings`` says when they are too few for the figures to mean much: the
  annualized ratios extrapolate a short span (a Sharpe of 21 on one day), the trade
  statistics rest on a handful of trades.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chainflow.backtest.types import Trade

YEAR_MS = 365.25 * 86_400_000
DAY_MS = 86_400_000
MIN_SPAN_DAYS = 30.0
"""Below this span the annualized figures (Sharpe, Sortino, Calmar, annual return) are
extrapolations of a few days' luck."""
MIN_BARS = 30
"""Below this many returns a standard deviation (hence Sharpe and volatility) is noise."""
MIN_TRADES = 30
"""Below this many closed trades the win rate, profit factor and expectancy are noise."""
DEFAULT_PERIODS_PER_YEAR = 252.0
NAN = math.nan


@dataclass(frozen=True, slots=True)
class AccountTotals:
    """What the account paid and traded over a run (money unless stated)."""

    initial_cash: float
    commission: float = 0.0
    spread: float = 0.0
    slippage: float = 0.0
    swap: float = 0.0  # credited to the account; negative when paid
    traded_value: float = 0.0  # sum of |units * fill price| over every fill
    bars_in_market: int = 0


def infer_periods_per_year(ts: NDArray[np.int64]) -> float:
    """Return the bars per year implied by ``ts`` (epoch ms bar open times)."""
    if len(ts) < 2:
        return DEFAULT_PERIODS_PER_YEAR
    spacing = float(np.median(np.diff(ts)))
    span_ms = float(ts[-1] - ts[0]) + spacing
    return len(ts) / (span_ms / YEAR_MS)


def span_days(ts: NDArray[np.int64]) -> float:
    """Return the calendar days ``ts`` covers (its last bar included; 0 without bars)."""
    if len(ts) == 0:
        return 0.0
    spacing = float(np.median(np.diff(ts))) if len(ts) > 1 else 0.0
    return (float(ts[-1] - ts[0]) + spacing) / DAY_MS


RETURN_RATIOS = ("sharpe", "sortino", "calmar", "volatility_pct", "annualized_return_pct")
TRADE_STATISTICS = ("win_rate_pct", "profit_factor", "expectancy")


def small_sample_metrics(metrics: dict[str, float]) -> tuple[str, ...]:
    """Return the names of the figures of ``metrics`` that rest on too few observations."""
    bars = int(metrics.get("bars", 0))
    days = float(metrics.get("span_days", 0.0))
    trades = int(metrics.get("num_trades", 0))
    few_returns = bars > 0 and (days < MIN_SPAN_DAYS or bars < MIN_BARS)
    few_trades = 0 < trades < MIN_TRADES
    return (RETURN_RATIOS if few_returns else ()) + (TRADE_STATISTICS if few_trades else ())


def sample_warnings(metrics: dict[str, float]) -> list[str]:
    """Return a warning per group of figures resting on too few observations."""
    warnings: list[str] = []
    small = small_sample_metrics(metrics)
    bars = int(metrics.get("bars", 0))
    days = float(metrics.get("span_days", 0.0))
    if RETURN_RATIOS[0] in small:
        warnings.append(
            f"small sample: sharpe, sortino, calmar, volatility and the annualized return "
            f"come from {bars} bars over {days:.1f} days (under {MIN_SPAN_DAYS:g} days or "
            f"{MIN_BARS} bars they extrapolate noise)"
        )
    trades = int(metrics.get("num_trades", 0))
    if TRADE_STATISTICS[0] in small:
        warnings.append(
            f"small sample: win rate, profit factor and expectancy come from {trades} closed "
            f"trade{'s' if trades != 1 else ''} (under {MIN_TRADES} they are noise)"
        )
    return warnings


def bar_returns(equity: NDArray[np.float64], initial_cash: float) -> NDArray[np.float64]:
    """Return the simple return of each bar (the first against ``initial_cash``)."""
    previous = np.concatenate(([initial_cash], equity[:-1]))
    safe = np.where(previous > 0, previous, 1.0)
    return np.where(previous > 0, equity / safe - 1.0, 0.0)


def drawdown_curve(equity: NDArray[np.float64], initial_cash: float) -> NDArray[np.float64]:
    """Return the drawdown of each bar as a fraction (0 at a peak, 0.25 = 25 % below it)."""
    if len(equity) == 0:
        return np.zeros(0)
    peak = np.maximum.accumulate(np.maximum(equity, initial_cash))
    return np.where(peak > 0, 1.0 - equity / np.where(peak > 0, peak, 1.0), 0.0)


def max_drawdown_duration(
    equity: NDArray[np.float64], ts: NDArray[np.int64], initial_cash: float
) -> tuple[int, int]:
    """Return the longest drawdown from peak to recovery (or the end): bars and ms."""
    if len(equity) == 0:
        return 0, 0
    peak = np.maximum.accumulate(np.maximum(equity, initial_cash))
    under = (equity < peak).astype(np.int8)
    edges = np.diff(np.concatenate(([0], under, [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)  # one past each run
    best_bars, best_ms = 0, 0
    last = len(equity) - 1
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        peak_index = start - 1  # -1: the starting cash, before the first bar
        end = min(stop, last)
        bars = end - peak_index
        ms = int(ts[end] - ts[max(peak_index, 0)])
        if bars > best_bars:
            best_bars, best_ms = bars, ms
    return best_bars, best_ms


def ratio(numerator: float, denominator: float) -> float:
    """Return ``numerator / denominator``, NaN when the denominator is 0."""
    return numerator / denominator if denominator != 0 else NAN


def risk_metrics(
    equity: NDArray[np.float64],
    initial_cash: float,
    periods_per_year: float,
    risk_free_rate: float = 0.0,
) -> dict[str, float]:
    """Return the return, volatility and risk-adjusted ratios of an equity curve."""
    final = float(equity[-1]) if len(equity) else initial_cash
    total = final / initial_cash - 1.0
    returns = bar_returns(equity, initial_cash)
    n = len(returns)
    years = n / periods_per_year
    if n == 0 or years <= 0:
        annual = 0.0
    elif final <= 0:
        annual = -1.0
    else:  # a short sample can compound past float range: that is infinite
        exponent = math.log(final / initial_cash) / years
        annual = math.expm1(exponent) if exponent < 700 else math.inf
    rf = (1.0 + risk_free_rate) ** (1.0 / periods_per_year) - 1.0
    excess = returns - rf
    scale = math.sqrt(periods_per_year)
    std = float(np.std(returns, ddof=1)) if n > 1 else 0.0
    mean_excess = float(np.mean(excess)) if n else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2))) if n else 0.0
    max_dd = float(np.max(drawdown_curve(equity, initial_cash))) if n else 0.0
    return {
        "return_pct": total * 100.0,
        "annualized_return_pct": annual * 100.0,
        "volatility_pct": std * scale * 100.0,
        "sharpe": ratio(mean_excess, std) * scale,
        "sortino": ratio(mean_excess, downside) * scale,
        "calmar": ratio(annual, max_dd),
        "max_drawdown_pct": max_dd * 100.0,
    }


def trade_metrics(trades: Sequence[Trade]) -> dict[str, float]:
    """Return win rate, profit factor, expectancy and average win/loss of closed trades."""
    pnl = np.array([trade.pnl for trade in trades], dtype=np.float64)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    gross_win, gross_loss = float(wins.sum()), float(-losses.sum())
    if gross_loss > 0:
        profit_factor = gross_win / gross_loss
    else:
        profit_factor = math.inf if gross_win > 0 else NAN
    return {
        "num_trades": float(len(pnl)),
        "win_rate_pct": ratio(len(wins) * 100.0, len(pnl)),
        "profit_factor": profit_factor,
        "expectancy": float(pnl.mean()) if len(pnl) else NAN,
        "avg_win": float(wins.mean()) if len(wins) else NAN,
        "avg_loss": float(losses.mean()) if len(losses) else NAN,
        "best_trade": float(pnl.max()) if len(pnl) else NAN,
        "worst_trade": float(pnl.min()) if len(pnl) else NAN,
        "gross_profit": gross_win,
        "gross_loss": gross_loss,
    }


def cost_metrics(totals: AccountTotals, n_bars: int) -> dict[str, float]:
    """Return the costs paid, the turnover and the exposure of a run."""
    swap_paid = 0.0 - totals.swap + 0.0  # never -0.0
    return {
        "commission_paid": totals.commission,
        "spread_paid": totals.spread,
        "slippage_paid": totals.slippage,
        "swap_paid": swap_paid,
        "costs_paid": totals.commission + totals.spread + totals.slippage + swap_paid,
        "turnover": totals.traded_value / totals.initial_cash,
        "exposure_pct": ratio(totals.bars_in_market * 100.0, n_bars) if n_bars else 0.0,
    }


def compute_metrics(
    equity: NDArray[np.float64],
    ts: NDArray[np.int64],
    trades: Sequence[Trade],
    totals: AccountTotals,
    *,
    risk_free_rate: float = 0.0,
    periods_per_year: float | None = None,
) -> dict[str, float]:
    """Return every metric of a run under stable keys (see the module docstring)."""
    ppy = periods_per_year if periods_per_year is not None else infer_periods_per_year(ts)
    duration_bars, duration_ms = max_drawdown_duration(equity, ts, totals.initial_cash)
    metrics: dict[str, float] = {
        "initial_cash": totals.initial_cash,
        "final_equity": float(equity[-1]) if len(equity) else totals.initial_cash,
        "bars": float(len(equity)),
        "span_days": span_days(ts),
        "periods_per_year": ppy,
    }
    metrics.update(risk_metrics(equity, totals.initial_cash, ppy, risk_free_rate))
    metrics["max_drawdown_duration_bars"] = float(duration_bars)
    metrics["max_drawdown_duration_ms"] = float(duration_ms)
    metrics.update(trade_metrics(trades))
    metrics.update(cost_metrics(totals, len(equity)))
    return metrics


def metric_names() -> list[str]:
    """Return the names of the metrics every backtest reports (``compute_metrics``'s keys)."""
    one = np.ones(1)
    return sorted(compute_metrics(one, np.zeros(1, dtype=np.int64), [], AccountTotals(1.0)))
