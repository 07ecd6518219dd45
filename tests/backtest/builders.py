"""Builders for the backtest tests: bars from rows, random walks and a scripted strategy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainflow.core.market import BarSeries
from chainflow.trading.api import Decision, StrategyContext

MINUTE_MS = 60_000
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday
ACTION_NAMES = {1: "buy", -1: "sell", 0: "hold"}


def make_bars(
    rows: Sequence[tuple[float, float, float, float]],
    *,
    step_ms: int = MINUTE_MS,
    start_ms: int = START_MS,
    spread: Sequence[float] | None = None,
) -> BarSeries:
    """Return bars from ``(open, high, low, close)`` rows, one every ``step_ms``."""
    array = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    n = len(array)
    return BarSeries.from_arrays(
        ts=start_ms + np.arange(n, dtype=np.int64) * step_ms,
        open=array[:, 0],
        high=array[:, 1],
        low=array[:, 2],
        close=array[:, 3],
        volume=np.ones(n),
        spread=None if spread is None else np.asarray(spread, dtype=np.float64),
        symbol="TEST",
        timeframe="M1",
    )


def random_walk_bars(n: int, seed: int = 1, *, with_spread: bool = False) -> BarSeries:
    """Return ``n`` M1 bars of a seeded random walk around 1.1 (EURUSD-like)."""
    rng = np.random.default_rng(seed)
    close = 1.1 + np.cumsum(rng.normal(0.0, 0.0004, n))
    open_ = np.concatenate(([1.1], close[:-1])) + rng.normal(0.0, 0.00005, n)
    high = np.maximum(open_, close) + rng.uniform(0.0, 0.0003, n)
    low = np.minimum(open_, close) - rng.uniform(0.0, 0.0003, n)
    spread = rng.uniform(0.00005, 0.0002, n) if with_spread else None
    return BarSeries.from_arrays(
        ts=START_MS + np.arange(n, dtype=np.int64) * MINUTE_MS * 7,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=np.ones(n),
        spread=spread,
        symbol="EURUSD",
        timeframe="M1",
    )


class ScriptedStrategy:
    """Return a fixed action per bar (by position in the series) and record what it saw."""

    name = "scripted"

    def __init__(self, actions: Sequence[int]) -> None:
        self.actions = list(actions)
        self.seen: list[tuple[int, float | None]] = []

    def on_bar(self, context: StrategyContext) -> Decision:
        assert context.bar is not None
        i = len(self.seen)
        self.seen.append((context.bar.ts, context.position))
        action = ACTION_NAMES[self.actions[i]]
        return Decision(context.symbol, context.bar.ts, self.name, action, 1.0, 0.0, ())

    def snapshot(self) -> dict[str, Any]:
        return {"seen": len(self.seen)}

    def restore(self, snapshot: dict[str, Any]) -> None:
        del snapshot
