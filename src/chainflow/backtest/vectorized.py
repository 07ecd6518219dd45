"""The fast path for signal-array strategies: one compiled loop over the bars.

A built-in strategy turns the whole series into an ``int8`` action array in one batch of
NumPy indicator calls (``1`` buy, ``-1`` sell, ``0`` hold, decided at each bar's close).
The account then runs over the bars inside one numba-compiled loop that calls the same
``fills.step_bar`` as the event engine, so both paths give the same trades and equity for
the same actions. Without numba the loop runs as plain Python (slower, same results).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainflow.backtest import fills
from chainflow.backtest.errors import InvalidBacktestInputError
from chainflow.backtest.results import build_result, check_trade_from
from chainflow.backtest.types import BacktestConfig, BacktestResult
from chainflow.core.market import BarSeries


@fills.compiled
def run_signal_loop(
    signals: NDArray[np.int8],
    market: NDArray[np.float64],
    cfg: NDArray[np.float64],
    state: NDArray[np.float64],
    trades: NDArray[np.float64],
    start: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Run the account over bars ``start ..`` acting on ``signals``; return equity and
    trades. Bar ``start`` acts on ``signals[start - 1]`` (the last warm-up decision)."""
    n = market.shape[1]
    equity = np.full(n, cfg[fills.C_CASH])
    action = int(signals[start - 1]) if 0 < start <= n else 0
    for i in range(start, n):
        trades = fills.grown(trades, int(state[fills.S_TRADES]))
        fills.step_bar(i, action, market, cfg, state, trades, equity)
        action = int(signals[i])
    if n > 0:
        trades = fills.grown(trades, int(state[fills.S_TRADES]))
        equity[n - 1] = fills.close_at_end(n - 1, market, cfg, state, trades)
    return equity, trades


def check_signals(signals: NDArray[Any], n: int) -> NDArray[np.int8]:
    """Return ``signals`` as an ``int8`` array of -1/0/1 of length ``n``, or raise."""
    array = np.asarray(signals)
    if array.shape != (n,):
        raise InvalidBacktestInputError(f"expected signals of shape ({n},); received {array.shape}")
    as_int = array.astype(np.int8)
    if not np.array_equal(as_int, array) or bool(np.any(np.abs(as_int) > 1)):
        raise InvalidBacktestInputError(
            "expected signals of -1 (sell), 0 (hold) and 1 (buy); received others"
        )
    return np.ascontiguousarray(as_int)


def run_signals(
    bars: BarSeries,
    signals: NDArray[Any],
    config: BacktestConfig,
    *,
    strategy: str = "signals",
    params: Mapping[str, Any] | None = None,
    notes: list[str] | None = None,
    started: float | None = None,
    trade_from: int = 0,
) -> BacktestResult:
    """Backtest an action array on ``bars``: ``signals[i]`` acts at bar ``i + 1``'s open.

    Bars before ``trade_from`` are warm-up: no order fills before bar ``trade_from``, and
    the curve, trades and metrics start there (as ``engine.run_event``).
    """
    started = time.perf_counter() if started is None else started
    trade_from = check_trade_from(trade_from, len(bars))
    actions = check_signals(signals, len(bars))
    market = fills.market_matrix(bars, config)
    state = fills.new_state(config.cash)
    buffer = fills.new_trade_buffer(256)
    cfg = fills.config_vector(config)
    equity, buffer = run_signal_loop(actions, market, cfg, state, buffer, trade_from)
    return build_result(
        bars,
        config,
        equity,
        state,
        buffer,
        strategy=strategy,
        params=params or {},
        engine="vectorized",
        started=started,
        notes=notes,
        trade_from=trade_from,
    )
