"""``FeatureEngine.preview``: the forming bar's vector without touching the engine."""

from __future__ import annotations

import math

import numpy as np

from chainflow.core.market import BarRow
from chainflow.features.engine import FeatureEngine
from chainflow.features.sets import FX_CORE_V1
from tests.fixtures.market_data import make_ohlcv


def bars(count: int, seed: int) -> list[BarRow]:
    return make_ohlcv(count, seed=seed).bar_rows(lambda _: 0.0001)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(a, b, equal_nan=True))


class TestPreview:
    def test_preview_is_the_update_and_leaves_the_state_as_it_was(self) -> None:
        series = bars(900, seed=3)
        engine = FeatureEngine(FX_CORE_V1)
        twin = FeatureEngine(FX_CORE_V1)
        for bar in series:
            before = engine.snapshot()
            # Ticks of the forming bar: its high, low and close move; each is previewed.
            for close in (bar.open, bar.high, bar.low, bar.close):
                forming = BarRow(
                    bar.ts,
                    bar.open,
                    max(bar.open, close),
                    min(bar.open, close),
                    close,
                    bar.volume / 2,
                    0.0001,
                )
                previewed = engine.preview(forming)
                probe = FeatureEngine(FX_CORE_V1)
                probe.restore(before)
                assert same(previewed, probe.update(forming))
                assert engine.snapshot() == before
            assert same(engine.update(bar), twin.update(bar))  # the close commits as usual
        assert engine.snapshot() == twin.snapshot()

    def test_a_failed_preview_leaves_the_state_as_it_was(self) -> None:
        engine = FeatureEngine(FX_CORE_V1)
        for bar in bars(50, seed=4):
            engine.update(bar)
        before = engine.snapshot()
        bad = BarRow(engine.last_ts + 1, 1.1, 1.0, 1.2, 1.1, 1.0, math.nan)  # high < low
        try:
            engine.preview(bad)
        except ValueError:
            pass
        assert engine.snapshot() == before
