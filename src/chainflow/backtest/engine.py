"""The event-driven engine: any ``chainflow.trading`` ``Strategy``, one bar at a time.

For each bar ``i`` the engine first runs the account over the bar (``fills.step_bar``:
the order decided at bar ``i - 1`` fills at bar ``i``'s open, then stops and stop-out
inside the bar, then the mark on close), and only then shows the strategy bar ``i`` —
closed — with the position it now holds. The strategy's decision becomes the order of bar
``i + 1``. The strategy sees nothing else: no later bar exists for it, so it cannot look
ahead. ``buy`` means "be long", ``sell`` "be short" (flat when long-only) and ``hold``
"keep the current position"; an action equal to the current side places no order.

A strategy may define ``prepare(bars)``: the engine calls it once before the loop so that a
built-in strategy computes its indicators in one batch (the values at bar ``i`` still
depend only on bars up to ``i``; the tests check that on cut data).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainflow.backtest import fills
from chainflow.backtest.metrics import AccountTotals, compute_metrics
from chainflow.backtest.types import (
    EXIT_REASONS,
    BacktestConfig,
    BacktestResult,
    Bars,
    EngineName,
    Trade,
)
from chainflow.features.api import BarValues
from chainflow.trading.api import Strategy, StrategyContext

ACTION_CODES: dict[str, int] = {"buy": fills.BUY, "sell": fills.SELL, "hold": fills.HOLD}


def trades_from_buffer(
    buffer: NDArray[np.float64], count: int, ts: NDArray[np.int64]
) -> list[Trade]:
    """Return the ``count`` first trade records of ``buffer`` as ``Trade`` values."""
    rows = buffer[:count].tolist()
    times = ts.tolist()
    trades = []
    for row in rows:
        entry_index, exit_index = int(row[fills.T_ENTRY_INDEX]), int(row[fills.T_EXIT_INDEX])
        trades.append(
            Trade(
                side="long" if row[fills.T_SIDE] > 0 else "short",
                size=row[fills.T_UNITS],
                entry_ts=times[entry_index],
                entry_price=row[fills.T_ENTRY_PRICE],
                exit_ts=times[exit_index],
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


def build_result(
    bars: Bars,
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
) -> BacktestResult:
    """Return the result of a finished run (``started`` is a ``perf_counter`` reading)."""
    trades = trades_from_buffer(buffer, int(state[fills.S_TRADES]), bars.ts)
    metrics = compute_metrics(
        equity,
        bars.ts,
        trades,
        account_totals(state, config.cash),
        risk_free_rate=config.risk_free_rate,
        periods_per_year=config.periods_per_year,
    )
    return BacktestResult(
        trades=trades,
        equity=equity,
        ts=bars.ts,
        metrics=metrics,
        params=dict(params),
        strategy=strategy,
        engine=engine,
        elapsed_s=time.perf_counter() - started,
        notes=list(notes or []),
    )


def run_event(
    bars: Bars,
    strategy: Strategy,
    config: BacktestConfig,
    *,
    params: Mapping[str, Any] | None = None,
    notes: list[str] | None = None,
) -> BacktestResult:
    """Backtest ``strategy`` on ``bars`` bar by bar (see the module docstring)."""
    started = time.perf_counter()
    prepare = getattr(strategy, "prepare", None)
    if callable(prepare):
        prepare(bars)
    market = fills.market_matrix(bars, config)
    cfg = fills.config_vector(config)
    state = fills.new_state(config.cash)
    buffer = fills.new_trade_buffer(1024)
    n = len(bars)
    equity = np.empty(n)
    spreads = bars.spread if bars.spread is not None else np.full(n, np.nan)
    columns = (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume, spreads)
    rows = zip(*(column.tolist() for column in columns), strict=True)
    step, codes, on_bar = fills.step_bar, ACTION_CODES, strategy.on_bar
    lot_size, symbol = config.lot_size, bars.symbol
    # A bar closes at most 3 trades: check the buffer's room every (free rows / 3) bars.
    check_at = 0
    action = fills.HOLD
    for i, row in enumerate(rows):
        if i >= check_at:
            buffer = fills.grown(buffer, int(state[fills.S_TRADES]))
            check_at = i + (buffer.shape[0] - int(state[fills.S_TRADES]) - 4) // 3
        units = step(i, action, market, cfg, state, buffer, equity)
        decision = on_bar(StrategyContext(None, units / lot_size, BarValues(*row), symbol))
        action = codes[decision.action]
    if n:
        buffer = fills.grown(buffer, int(state[fills.S_TRADES]))
        equity[n - 1] = fills.close_at_end(n - 1, market, cfg, state, buffer)
    return build_result(
        bars,
        config,
        equity,
        state,
        buffer,
        strategy=getattr(strategy, "name", type(strategy).__name__),
        params=params or {},
        engine="event",
        started=started,
        notes=notes,
    )
