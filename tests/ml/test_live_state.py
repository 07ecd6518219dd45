"""Per-symbol live memory: scoring rules equal the training labels; patterns of the newest bar."""

from __future__ import annotations

import math

import numpy as np

from chainflow.features.batch.volatility import atr
from chainflow.ml.live.state import KeyState, PendingPrediction
from chainflow.ml.training.labels import direction_labels, triple_barrier_labels
from tests.fixtures.market_data import make_ohlcv

DATA = make_ohlcv(400, seed=61)


def fed_state(upto: int) -> KeyState:
    state = KeyState(window=1)
    for i in range(upto):
        state.add_bar(
            int(DATA.ts_ms[i]),
            float(DATA.open[i]),
            float(DATA.high[i]),
            float(DATA.low[i]),
            float(DATA.close[i]),
        )
    return state


def test_streaming_atr_and_scoring_equal_the_training_labels() -> None:
    batch_atr = atr(DATA.high, DATA.low, DATA.close, 14)
    for kind in ("direction", "triple_barrier"):
        if kind == "direction":
            labels = direction_labels(DATA.close, batch_atr, 6, 0.5)
        else:
            labels, _ = triple_barrier_labels(DATA.high, DATA.low, DATA.close, batch_atr, 6, 0.5)
        state = KeyState(window=1)
        realized: dict[int, int] = {}
        for i in range(len(DATA.close)):
            state.add_bar(
                int(DATA.ts_ms[i]),
                float(DATA.open[i]),
                float(DATA.high[i]),
                float(DATA.low[i]),
                float(DATA.close[i]),
            )
            if i >= 20:
                assert math.isclose(state.atr_value, batch_atr[i], rel_tol=1e-9)
            for pending, label, _move in state.due():
                realized[pending.ts] = label
            state.pending.append(
                PendingPrediction(
                    ts=int(DATA.ts_ms[i]),
                    model="m@1",
                    probabilities=(0.3, 0.3, 0.4),
                    close=float(DATA.close[i]),
                    atr=state.atr_value,
                    horizon=6,
                    threshold_atr=0.5,
                    kind=kind,
                )
            )
        scored = range(20, len(DATA.close) - 6)
        assert all(realized[int(DATA.ts_ms[i])] == labels[i] for i in scored), kind


def test_patterns_name_what_the_newest_bar_completes() -> None:
    seen: set[str] = set()
    state = KeyState(window=1)
    data = make_ohlcv(2000, seed=5)
    for i in range(len(data.close)):
        state.add_bar(
            int(data.ts_ms[i]),
            float(data.open[i]),
            float(data.high[i]),
            float(data.low[i]),
            float(data.close[i]),
        )
        seen.update(name.split(":")[0] for name in state.patterns())
    assert {"doji", "engulfing", "double_top", "double_bottom"} <= seen
    assert any("triangle" in name for name in seen)


def test_window_needs_consecutive_vectors_and_old_predictions_are_dropped() -> None:
    state = KeyState(window=3)
    for ts in (1, 2):
        state.add_vector(ts, np.full(4, float(ts)))
    assert state.window_matrix() is None
    state.add_vector(3, np.full(4, 3.0))
    state.add_vector(2, np.full(4, 9.0))  # not after the last: ignored
    assert np.array_equal(state.window_matrix()[:, 0], [1.0, 2.0, 3.0])
    assert np.array_equal(state.window_ending(2, 2)[:, 0], [1.0, 2.0])
    assert state.window_ending(1, 2) is None and state.window_ending(7, 1) is None
    old = fed_state(100)
    old.pending.append(PendingPrediction(0, "m@1", (0.3, 0.3, 0.4), 1.1, 0.001, 6, 0.5))
    assert old.due() == [] and old.pending == []  # older than the bars kept: dropped
