"""A cost-aware backtest of the out-of-sample predictions of a training run.

Each walk-forward test block becomes one ``SignalWindow``: the source bars from the block's
first predicted bar to the bar after its last (so the last decision can fill), with the
model's out-of-sample probabilities, volatility and momentum on the bars that have a row
(NaN elsewhere: hold), the bars' own spread and a commission of ``COMMISSION`` of the
traded value per side (0.3 bp, about an ECN's 3 USD per 100k side). A ``SignalBacktester``
runs a window and answers its equity per bar: ``chainflow.backtest``'s ML strategy (the
live ``ModelStrategy`` on the predictions) on its engine, with spread and commission, is
the one the command line wires in (``chainflow.ml`` sits below the backtester in the
layers, so it is passed in, not imported).

``backtest_report`` chains the windows (each starts flat with the same cash; their bar
returns are concatenated) and reports the compounded return, the annualized Sharpe ratio
of the bar returns (``periods_per_year`` from the bar spacing: 252 trading days of 24 h),
the maximum drawdown of the chained curve, the number of closed trades, and each
window's return and trades. With fewer than ``FEW_TRADES`` trades the report carries a
``warning``: the curve is flat on most bars, so one trade decides the Sharpe ratio.

``equity`` is the chained curve per bar (1.0 before the first bar; each point the equity
after a bar, stamped with the bar's ``ts``), thinned to at most ``EQUITY_POINTS`` points for
the model card's chart (``equity_points``): evenly spaced bars plus the first, the last, the
lowest, the highest, and the peak and trough of the maximum drawdown, so the chart keeps
what the numbers beside it report.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chainflow.ml.errors import InvalidMlInputError

if TYPE_CHECKING:
    from chainflow.core.market import BarSeries
    from chainflow.ml.training.run import TrainingResult

__all__ = [
    "COMMISSION",
    "SignalBacktester",
    "SignalWindow",
    "WindowOutcome",
    "attach_backtest",
    "backtest_report",
    "equity_points",
    "signal_windows",
]

COMMISSION = 0.00003  # fraction of traded value per side
FEW_TRADES = 10  # below this, the Sharpe ratio of the mostly flat curve says little
EQUITY_POINTS = 250  # at most, in a report's per-bar equity curve
MIN_EQUITY_POINTS = 8  # the kept extremes (up to 6) and some spacing
TRADING_MINUTES_PER_YEAR = 252 * 24 * 60

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SignalWindow:
    """One test block's bars and the model's out-of-sample predictions on them."""

    ts: NDArray[np.int64]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    spread: FloatArray
    probabilities: FloatArray  # (n, 3), NaN rows: no prediction
    volatility: FloatArray
    momentum: FloatArray
    symbol: str
    timeframe: str
    commission: float = COMMISSION


@dataclass(frozen=True, slots=True)
class WindowOutcome:
    """A window's backtest: equity per bar (marked on close) from ``cash``, trades."""

    equity: FloatArray
    trades: int
    cash: float


SignalBacktester = Callable[[SignalWindow], WindowOutcome]


def attach_backtest(
    result: TrainingResult, bars: BarSeries, backtester: SignalBacktester | None
) -> None:
    """Set ``result.backtest``: the report of ``backtester`` on the run's out-of-sample
    predictions over ``bars`` (the bars the dataset was built from), or why there is none."""
    found = result.predictions
    if backtester is None or found is None:
        result.backtest = {"skipped": "no signal backtester given to this run"}
        return
    windows = signal_windows(
        bars,
        found.bar_index,
        found.fold_sizes,
        (found.probabilities, found.volatility, found.momentum),
        symbol=str(result.dataset.get("symbol", "")),
        timeframe=str(result.dataset.get("timeframe", "")),
    )
    result.backtest = backtest_report(windows, backtester)


def signal_windows(
    bars: BarSeries,
    bar_index: NDArray[np.int64],
    fold_sizes: Sequence[int],
    predictions: tuple[FloatArray, FloatArray, FloatArray],
    *,
    symbol: str = "",
    timeframe: str = "",
) -> list[SignalWindow]:
    """One window per fold: ``bar_index`` (source bar of each out-of-sample row, fold
    after fold) and their ``(probabilities, volatility, momentum)``."""
    probabilities, volatility, momentum = predictions
    windows, start = [], 0
    for size in fold_sizes:
        block = slice(start, start + size)
        start += size
        at = bar_index[block]
        first, stop = int(at[0]), min(int(at[-1]) + 2, len(bars))
        n = stop - first
        proba = np.full((n, 3), np.nan)
        vol, mom = np.full(n, np.nan), np.full(n, np.nan)
        proba[at - first], vol[at - first], mom[at - first] = (
            probabilities[block],
            volatility[block],
            momentum[block],
        )
        windows.append(
            SignalWindow(
                ts=np.asarray(bars.ts[first:stop]),
                open=np.asarray(bars.open[first:stop]),
                high=np.asarray(bars.high[first:stop]),
                low=np.asarray(bars.low[first:stop]),
                close=np.asarray(bars.close[first:stop]),
                volume=np.asarray(bars.volume[first:stop]),
                spread=np.nan_to_num(np.asarray(bars.spread[first:stop]), nan=0.0),
                probabilities=proba,
                volatility=vol,
                momentum=mom,
                symbol=symbol,
                timeframe=timeframe,
            )
        )
    return windows


def backtest_report(
    windows: Sequence[SignalWindow], backtester: SignalBacktester
) -> dict[str, Any]:
    """Run every window and chain them (rules in the module docstring)."""
    returns, stamps, per_window, trades = [], [], [], 0
    for window in windows:
        outcome = backtester(window)
        equity = np.concatenate([[outcome.cash], np.asarray(outcome.equity, dtype=np.float64)])
        returns.append(equity[1:] / equity[:-1] - 1.0)
        stamps.append(_bar_stamps(window, equity.size - 1))
        trades += outcome.trades
        per_window.append(
            {
                "from_ts": int(window.ts[0]),
                "to_ts": int(window.ts[-1]),
                "return": float(equity[-1] / equity[0] - 1.0),
                "trades": int(outcome.trades),
            }
        )
    bar_returns = np.concatenate(returns) if returns else np.empty(0)
    curve = np.cumprod(1.0 + bar_returns, dtype=np.float64)
    peak = np.maximum.accumulate(np.concatenate([[1.0], curve]))[1:]
    spread = np.concatenate([w.spread for w in windows]) if windows else np.empty(0)
    report: dict[str, Any] = {
        "strategy": "ml (live ModelStrategy on the out-of-sample predictions)",
        "return": float(curve[-1] - 1.0) if curve.size else 0.0,
        "sharpe": _sharpe(bar_returns, _periods_per_year(windows)),
        "max_drawdown": float(np.min(curve / peak - 1.0)) if curve.size else 0.0,
        "trades": trades,
        "bars": int(bar_returns.size),
        "costs": {
            "commission_per_side": windows[0].commission if windows else COMMISSION,
            "mean_spread": float(spread.mean()) if spread.size else 0.0,
        },
        "windows": per_window,
        "equity": equity_points(
            np.concatenate(stamps) if stamps else np.empty(0, np.int64), curve, EQUITY_POINTS
        ),
    }
    if trades < FEW_TRADES:
        report["warning"] = f"{trades} trades: too few for the Sharpe ratio to mean much"
    return report


def equity_points(
    ts: NDArray[np.int64], curve: FloatArray, limit: int = EQUITY_POINTS
) -> list[dict[str, Any]]:
    """Return ``curve`` (equity per bar at ``ts``) as at most ``limit`` points
    ``{"ts", "equity"}``: evenly spaced bars plus the first, last, lowest and highest, and
    the maximum drawdown's peak and trough."""
    n = int(curve.size)
    if ts.size != n:
        raise ValueError(f"expected one ts per equity value ({n}); received {ts.size}")
    if n == 0:
        return []
    if limit < MIN_EQUITY_POINTS:
        raise InvalidMlInputError(
            f"expected an equity point limit of at least {MIN_EQUITY_POINTS}; received {limit}"
        )
    peak = np.maximum.accumulate(np.maximum(curve, 1.0))  # the report's, from 1.0
    trough = int(np.argmin(curve / peak))
    kept = {0, n - 1, int(np.argmin(curve)), int(np.argmax(curve)), trough}
    kept.add(int(np.argmax(curve[: trough + 1])))  # the drawdown's peak (or 1.0 before)
    spaced = np.linspace(0, n - 1, num=min(n, limit - len(kept))).round().astype(np.int64)
    chosen = sorted(kept.union(int(i) for i in spaced))
    return [{"ts": int(ts[i]), "equity": float(curve[i])} for i in chosen]


def _bar_stamps(window: SignalWindow, bars: int) -> NDArray[np.int64]:
    """The ``ts`` of the window's last ``bars`` bars, to stamp its equity points with."""
    if bars > window.ts.size:
        raise ValueError(
            f"expected at most one equity point per bar of the window ({window.ts.size}); "
            f"received {bars}"
        )
    return np.asarray(window.ts[window.ts.size - bars :], dtype=np.int64)


def _periods_per_year(windows: Sequence[SignalWindow]) -> float:
    gaps = np.concatenate([np.diff(w.ts) for w in windows]) if windows else np.empty(0)
    if gaps.size == 0:
        return float("nan")
    return TRADING_MINUTES_PER_YEAR / (float(np.median(gaps)) / 60_000.0)


def _sharpe(returns: FloatArray, periods_per_year: float) -> float:
    if returns.size < 2:
        return float("nan")
    spread = float(returns.std(ddof=1))
    if spread == 0.0 or not math.isfinite(periods_per_year):
        return float("nan")
    return float(returns.mean() / spread * math.sqrt(periods_per_year))
