"""A finished run's result: the trade log, cost totals and metrics from the account arrays.

Shared by the event engine and the vectorized path, so both report a run the same way,
including the warm-up rule (``trade_from``: bars before it are left out of the curve, the
trade log and the metrics).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainflow.backtest import fills
from chainflow.backtest.errors import InvalidBacktestInputError
from chainflow.backtest.metrics import AccountTotals, compute_metrics, sample_warnings
from chainflow.backtest.types import EXIT_REASONS, BacktestConfig, BacktestResult, EngineName, Trade
from chainflow.core.market import BarSeries


def trades_from_buffer(
    buffer: NDArray[np.float64], count: int, ts: NDArray[np.int64]
) -> list[Trade]:
    """Return the ``count`` first trade records of ``buffer`` as ``Trade`` values."""
    records = buffer[:count]
    entries = records[:, fills.T_ENTRY_INDEX].astype(np.int64)
    exits = records[:, fills.T_EXIT_INDEX].astype(np.int64)
    rows = zip(records.tolist(), ts[entries].tolist(), ts[exits].tolist(), strict=True)
    trades = []
    for row, entry_ts, exit_ts in rows:
        entry_index, exit_index = int(row[fills.T_ENTRY_INDEX]), int(row[fills.T_EXIT_INDEX])
        trades.append(
            Trade(
                side="long" if row[fills.T_SIDE] > 0 else "short",
                size=row[fills.T_UNITS],
                entry_ts=entry_ts,
                entry_price=row[fills.T_ENTRY_PRICE],
                exit_ts=exit_ts,
                exit_price=row[fills.T_EXIT_PRICE],
                pnl=row[fills.T_PNL],
                commission=row[fills.T_COMMISSION],
                swap=row[fills.T_SWAP],
                exit_reason=EXIT_REASONS[int(row[fills.T_REASON])],
                entry_index=entry_index,
                exit_index=exit_index,
            )
        )
    return trades


def account_totals(state: NDArray[np.float64], cash: float) -> AccountTotals:
    """Return the running totals of a finished account ``state``."""
    return AccountTotals(
        initial_cash=cash,
        commission=float(state[fills.S_COMMISSION_PAID]),
        spread=float(state[fills.S_SPREAD_PAID]),
        slippage=float(state[fills.S_SLIPPAGE_PAID]),
        swap=float(state[fills.S_SWAP_TOTAL]),
        traded_value=float(state[fills.S_NOTIONAL]),
        bars_in_market=int(state[fills.S_BARS_IN_MARKET]),
    )


def check_trade_from(trade_from: int, n: int) -> int:
    """Return ``trade_from`` when it leaves at least one bar of ``n`` to trade, or raise."""
    if isinstance(trade_from, bool) or not isinstance(trade_from, int | np.integer):
        raise InvalidBacktestInputError(
            f"expected trade_from as a bar index (int); received {trade_from!r}"
        )
    if trade_from < 0 or (trade_from > 0 and trade_from >= n):
        raise InvalidBacktestInputError(
            f"expected 0 <= trade_from < {n} (the number of bars); received {trade_from}"
        )
    return int(trade_from)


def build_result(
    bars: BarSeries,
    config: BacktestConfig,
    equity: NDArray[np.float64],
    state: NDArray[np.float64],
    buffer: NDArray[np.float64],
    *,
    strategy: str,
    params: Mapping[str, Any],
    engine: EngineName,
    started: float,
    notes: list[str] | None = None,
    trade_from: int = 0,
) -> BacktestResult:
    """Return the result of a finished run (``started`` is a ``perf_counter`` reading).

    Bars before ``trade_from`` (warm-up) are left out of the curve, trades and metrics;
    trade indices count from ``trade_from``. Figures resting on too few observations are
    named in the notes (``metrics.sample_warnings``).
    """
    count = int(state[fills.S_TRADES])
    ts = bars.ts[trade_from:]
    if trade_from:
        equity = equity[trade_from:]
        buffer = buffer[:count].copy()
        buffer[:, [fills.T_ENTRY_INDEX, fills.T_EXIT_INDEX]] -= trade_from
    trades = trades_from_buffer(buffer, count, ts)
    metrics = compute_metrics(
        equity,
        ts,
        trades,
        account_totals(state, config.cash),
        risk_free_rate=config.risk_free_rate,
        periods_per_year=config.periods_per_year,
    )
    return BacktestResult(
        trades=trades,
        equity=equity,
        ts=ts,
        metrics=metrics,
        params=dict(params),
        strategy=strategy,
        engine=engine,
        elapsed_s=time.perf_counter() - started,
        notes=[*(notes or []), *sample_warnings(metrics)],
    )
