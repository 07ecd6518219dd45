"""``core.market``: a bar's spread, ``BarRow`` and ``bar_row``."""

from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np

from chainflow.bridge.bars import AggregatedBar
from chainflow.core.market import Bar, BarRow, Timeframe, bar_row
from chainflow.features.engine import FeatureEngine
from chainflow.features.sets import FX_CORE_V1
from tests.fixtures.market_data import make_ohlcv

TS = 1_700_000_100_000


class TestBarSpread:
    def test_unknown_by_default_and_bars_without_one_equal(self) -> None:
        bar = Bar("EURUSD", Timeframe.M5, TS, 1.1, 1.2, 1.0, 1.15, 3.0, 4)
        assert math.isnan(bar.spread)
        assert bar == Bar("EURUSD", Timeframe.M5, TS, 1.1, 1.2, 1.0, 1.15, 3.0, 4)
        assert pickle.loads(pickle.dumps(bar)) == bar

    def test_left_out_of_equality_and_hash(self) -> None:
        known = Bar("EURUSD", Timeframe.M5, TS, 1.1, 1.2, 1.0, 1.15, 3.0, 4, spread=2e-5)
        unknown = Bar("EURUSD", Timeframe.M5, TS, 1.1, 1.2, 1.0, 1.15, 3.0, 4)
        assert known == unknown and hash(known) == hash(unknown)

    def test_keyword_only_keeps_a_subclass_positional_fields(self) -> None:
        bar = AggregatedBar("EURUSD", Timeframe.M5, TS, 1.1, 1.2, 1.0, 1.15, 3.0, 2, 1e-5, 3e-5)
        assert (bar.tick_count, bar.spread_min, bar.spread_max) == (2, 1e-5, 3e-5)
        known = Bar("EURUSD", Timeframe.M5, TS, 1.1, 1.2, 1.0, 1.15, 3.0, 2, spread=2e-5)
        assert known.spread == 2e-5


class TestBarRow:
    def test_none_spread_is_nan_and_a_known_one_kept(self) -> None:
        assert math.isnan(bar_row(TS, 1.1, 1.2, 1.0, 1.15, 3.0, None).spread)
        assert bar_row(TS, 1.1, 1.2, 1.0, 1.15, 3.0, 2e-5) == BarRow(
            TS, 1.1, 1.2, 1.0, 1.15, 3.0, 2e-5
        )

    def test_frozen(self) -> None:
        row = BarRow(TS, 1.1, 1.2, 1.0, 1.15, 3.0)
        try:
            row.close = 1.2  # type: ignore[misc]
        except dataclasses.FrozenInstanceError:
            pass
        else:
            raise AssertionError("expected a frozen BarRow")

    def test_engine_reads_a_bar_as_its_row(self) -> None:
        data = make_ohlcv(300, seed=7)
        by_row, by_bar = FeatureEngine(FX_CORE_V1), FeatureEngine(FX_CORE_V1)
        for i in range(300):
            values = (
                int(data.ts_ms[i]),
                float(data.open[i]),
                float(data.high[i]),
                float(data.low[i]),
                float(data.close[i]),
                float(data.volume[i]),
            )
            row = BarRow(*values, 1e-4)
            bar = Bar("EURUSD", Timeframe.M5, *values, 5, spread=1e-4)
            assert np.array_equal(by_row.update(row), by_bar.update(bar), equal_nan=True)
