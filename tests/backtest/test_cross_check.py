"""Cross-check against an independent plain-loop backtester written here (issue 9 point 8).

The reference follows the documented conventions — bars are bids, a buy fills at the next
open plus the spread, a sell at the next open, ``commission`` is a fraction of traded value
per side, ``all-in`` buys ``floor(equity / (price * (1 + commission)))`` whole units, an
open position is closed at the last close — with cash accounting as backtesting.py does,
and imports nothing from the engine but the public ``run_backtest``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainflow.backtest.api import run_backtest
from chainflow.backtest.types import BacktestConfig
from tests.backtest.builders import random_walk_bars


def plain_sma(values: list[float], n: int) -> list[float]:
    out = [math.nan] * len(values)
    for i in range(n - 1, len(values)):
        out[i] = sum(values[i - n + 1 : i + 1]) / n
    return out


def reference_sma_crossover(
    opens: list[float],
    closes: list[float],
    spread: float,
    cash: float,
    commission: float,
    fast: int,
    slow: int,
    long_only: bool,
) -> tuple[list[tuple[str, int, int, float, float, float]], float]:
    f, s = plain_sma(closes, fast), plain_sma(closes, slow)
    trades: list[tuple[str, int, int, float, float, float]] = []
    units = 0.0  # signed
    entry_index, entry_price = -1, 0.0
    pending: str | None = None

    def close_position(i: int, bid: float) -> None:
        nonlocal cash, units
        price = bid if units > 0 else bid + spread
        if units > 0:
            cash += units * price - units * price * commission
        else:
            cash -= -units * price + -units * price * commission
        trades.append(
            ("long" if units > 0 else "short", entry_index, i, entry_price, price, abs(units))
        )
        units = 0.0

    def open_position(i: int, side: str) -> None:
        nonlocal cash, units, entry_index, entry_price
        price = opens[i] + spread if side == "long" else opens[i]
        size = math.floor(cash / (price * (1 + commission)))
        if size <= 0:
            return
        if side == "long":
            cash -= size * price + size * price * commission
            units = size
        else:
            cash += size * price - size * price * commission
            units = -size
        entry_index, entry_price = i, price

    for i in range(len(closes)):
        if pending == "buy" and units <= 0:
            if units < 0:
                close_position(i, opens[i])
            open_position(i, "long")
        elif pending == "sell" and units > 0:
            close_position(i, opens[i])
            if not long_only:
                open_position(i, "short")
        elif pending == "sell" and units == 0 and not long_only:
            open_position(i, "short")
        pending = None
        if i > 0 and f[i - 1] < s[i - 1] and f[i] > s[i]:
            pending = "buy"
        elif i > 0 and f[i - 1] > s[i - 1] and f[i] < s[i]:
            pending = "sell"
    if units != 0:
        close_position(len(closes) - 1, closes[-1])
    return trades, cash


CASES = [
    # (seed, n, fast, slow, commission, spread, long_only)
    (1, 3000, 10, 30, 0.001, 0.0002, True),
    (2, 5000, 10, 30, 0.002, 0.0001, True),
    (3, 4000, 5, 20, 0.0, 0.0, False),
    (4, 2500, 10, 30, 0.001, 0.0002, False),
    (5, 5000, 20, 50, 0.0005, 0.0003, False),
]


@pytest.mark.parametrize(("seed", "n", "fast", "slow", "commission", "spread", "long_only"), CASES)
@pytest.mark.parametrize("engine", ["event", "vectorized"])
def test_sma_crossover_matches_the_plain_loop_reference(
    seed: int,
    n: int,
    fast: int,
    slow: int,
    commission: float,
    spread: float,
    long_only: bool,
    engine: str,
) -> None:
    bars = random_walk_bars(n, seed)
    config = BacktestConfig(
        cash=10_000.0, commission=commission, spread=spread, long_only=long_only, sizing="all-in"
    )
    result = run_backtest(
        bars, "sma_crossover", {"fast": fast, "slow": slow}, config, engine=engine
    )  # type: ignore[arg-type]
    expected, final_cash = reference_sma_crossover(
        bars.open.tolist(),
        bars.close.tolist(),
        spread,
        10_000.0,
        commission,
        fast,
        slow,
        long_only,
    )
    got = [
        (t.side, t.entry_index, t.exit_index, t.entry_price, t.exit_price, t.size)
        for t in result.trades
    ]
    assert len(expected) > 20
    assert [g[:3] for g in got] == [e[:3] for e in expected]
    np.testing.assert_allclose([g[3:] for g in got], [e[3:] for e in expected], rtol=1e-12)
    assert result.metrics["final_equity"] == pytest.approx(final_cash, rel=1e-9)
