"""``BarSeries``: one symbol's bars as columns, checked once, read-only, sliced without copies."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from chainflow.core.errors import InvalidBarsError, InvalidInput
from chainflow.core.market import BarSeries

START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
MINUTE_MS = 60_000


def columns(n: int = 5) -> dict[str, np.ndarray]:
    close = 1.1 + 0.001 * np.arange(n, dtype=np.float64)
    return {
        "ts": START_MS + np.arange(n, dtype=np.int64) * MINUTE_MS,
        "open": close - 0.0005,
        "high": close + 0.001,
        "low": close - 0.001,
        "close": close,
        "volume": np.ones(n),
    }


class TestBuild:
    def test_columns_are_read_only_views_of_the_callers_arrays(self) -> None:
        given = columns()
        bars = BarSeries.from_arrays(**given, symbol="EURUSD", timeframe="M1")

        assert len(bars) == 5 and (bars.symbol, bars.timeframe) == ("EURUSD", "M1")
        assert bars.ts.dtype == np.int64 and bars.close.dtype == np.float64
        assert np.shares_memory(bars.close, given["close"])  # no copy
        assert not bars.close.flags.writeable and given["close"].flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            bars.close[0] = 2.0

    def test_other_dtypes_and_lists_are_converted(self) -> None:
        prices = [1, 2, 3]
        bars = BarSeries.from_arrays(
            ts=[1, 2, 3],
            open=prices,
            high=prices,
            low=prices,
            close=prices,
            volume=np.ones(3, dtype=np.float32),
        )
        assert bars.ts.dtype == np.int64 and bars.volume.dtype == np.float64
        assert bars.close.flags.c_contiguous

    def test_an_unknown_spread_is_nan(self) -> None:
        bars = BarSeries.from_arrays(**columns())

        assert np.isnan(bars.spread).all() and not bars.has_spread
        np.testing.assert_array_equal(bars.spread_array(), np.zeros(5))
        np.testing.assert_array_equal(bars.spread_array(2e-5), np.full(5, 2e-5))

    def test_a_partly_known_spread_charges_zero_where_unknown(self) -> None:
        spread = np.array([1e-5, np.nan, 3e-5, np.nan, 2e-5])
        bars = BarSeries.from_arrays(**columns(), spread=spread)

        assert bars.has_spread
        np.testing.assert_array_equal(bars.spread_array(), [1e-5, 0.0, 3e-5, 0.0, 2e-5])
        assert bars.spread_array().flags.writeable  # a new array, the caller's to change


class TestValidation:
    def test_errors_are_invalid_input_and_value_errors(self) -> None:
        with pytest.raises(InvalidBarsError) as caught:
            BarSeries.from_arrays(**{**columns(), "high": np.ones(4)})

        error = caught.value
        assert isinstance(error, InvalidInput) and isinstance(error, ValueError)
        assert (error.code, error.status) == ("invalid_bars", 422)
        assert error.message == "expected high of shape (5,) like ts; received (4,)"

    def test_ts_must_be_one_dimensional(self) -> None:
        with pytest.raises(ValueError, match=r"expected ts one-dimensional; received shape"):
            BarSeries.from_arrays(**{**columns(3), "ts": [[1, 2, 3]]})

    def test_a_column_must_be_one_dimensional(self) -> None:
        with pytest.raises(ValueError, match=r"expected spread of shape \(5,\) like ts"):
            BarSeries.from_arrays(**columns(), spread=np.ones((5, 1)))

    def test_ts_must_strictly_increase(self) -> None:
        given = columns()
        given["ts"][3] = given["ts"][2]
        after = int(given["ts"][2])
        with pytest.raises(ValueError, match=f"a bar after {after} at index 3; received {after}"):
            BarSeries.from_arrays(**given)

    def test_no_bars_is_a_series(self) -> None:
        empty = {name: np.empty(0) for name in columns()}
        assert len(BarSeries.from_arrays(**empty)) == 0


class TestSlice:
    def test_a_slice_is_views_with_the_same_symbol(self) -> None:
        bars = BarSeries.from_arrays(**columns(), spread=np.full(5, 1e-5), symbol="X")
        part = bars.slice(1, 4)

        assert len(part) == 3 and part.symbol == "X"
        np.testing.assert_array_equal(part.ts, bars.ts[1:4])
        assert np.shares_memory(part.spread, bars.spread) and not part.open.flags.writeable


class TestPickle:
    def test_a_pickled_series_stays_read_only(self) -> None:
        bars = BarSeries.from_arrays(**columns(), symbol="X", timeframe="M5")
        copy = pickle.loads(pickle.dumps(bars))

        assert (copy.symbol, copy.timeframe) == ("X", "M5")
        np.testing.assert_array_equal(copy.close, bars.close)
        assert not copy.close.flags.writeable


class TestFromFrame:
    def test_epoch_ms_or_datetimes(self) -> None:
        given = columns(3)
        frame = pd.DataFrame(given)
        stamps = frame.assign(ts=pd.to_datetime(frame["ts"], unit="ms"))  # naive: UTC

        for source in (frame, stamps):
            bars = BarSeries.from_frame(source, "EURUSD", "M1")
            np.testing.assert_array_equal(bars.ts, given["ts"])
            assert not bars.has_spread and bars.symbol == "EURUSD"

    def test_a_spread_column_is_kept(self) -> None:
        frame = pd.DataFrame({**columns(3), "spread": [1e-5, 2e-5, np.nan]})
        np.testing.assert_array_equal(BarSeries.from_frame(frame).spread_array(), [1e-5, 2e-5, 0.0])

    def test_missing_columns_are_named(self) -> None:
        frame = pd.DataFrame(columns(3)).drop(columns=["volume"])
        with pytest.raises(InvalidBarsError, match=r"\(missing \['volume'\]\)"):
            BarSeries.from_frame(frame)
