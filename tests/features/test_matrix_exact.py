"""The batch matrix is bit-for-bit its columns computed one by one with the public batch
functions and scalers, as ``matrix.py`` computed them before its assembly kernel took the
lags, the ``/ 100`` divisions and the calendar tables (issue 21.1): equal bytes, not a
tolerance, so that a faster assembly cannot change a model's inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from chainflow.core.market import BarSeries
from chainflow.features import batch
from chainflow.features.engine import (
    DAY_OF_WEEK_COS,
    DAY_OF_WEEK_SIN,
    TIME_OF_DAY_COS,
    TIME_OF_DAY_SIN,
    in_session,
)
from chainflow.features.errors import InvalidFeatureInputError
from chainflow.features.matrix import feature_matrix
from chainflow.features.normalize import rolling_robust_scale, rolling_zscore_scale
from chainflow.features.sets import FX_CORE_V1, FeatureSet, FeatureSpec, Scaling, feature
from tests.fixtures.market_data import make_ohlcv

FloatArray = np.ndarray


def scaled(raw: FloatArray, scaling: Scaling) -> FloatArray:
    args = (raw, scaling.window, scaling.clip, scaling.min_periods)
    if scaling.method == "zscore":
        return rolling_zscore_scale(*args)
    if scaling.method == "robust":
        return rolling_robust_scale(*args)
    return raw


def log_return(close: FloatArray, n: int) -> FloatArray:
    r = np.full(close.shape, np.nan)
    r[n:] = np.log(close[n:] / close[:-n])
    return r


def lagged(values: FloatArray, lag: int) -> FloatArray:
    out = np.full(values.shape, np.nan)
    if lag < values.size:
        out[lag:] = values[: values.size - lag]
    return out


def raw_column(s: BarSeries, spec: FeatureSpec) -> FloatArray:  # noqa: C901, PLR0911
    """The unscaled column, written as plain NumPy over the public indicators."""
    kind, p = spec.kind, spec.param_map
    h, lo, c = s.high, s.low, s.close
    n = int(p.get("n", 0))
    if kind == "rsi":
        return batch.rsi(c, n) / 100.0
    if kind.startswith("macd_"):
        parts = batch.macd(c, int(p["fast"]), int(p["slow"]), int(p["signal"]))
        return dict(zip(("macd_line", "macd_signal", "macd_hist"), parts, strict=True))[kind] / c
    if kind.startswith("bb_"):
        upper, middle, lower = batch.bbands(c, n, float(p["k"]))
        width = upper - lower
        with np.errstate(divide="ignore", invalid="ignore"):
            if kind == "bb_percent_b":
                flat = np.where(np.isnan(width), np.nan, 0.5)
                return np.where(width > 0.0, (c - lower) / width, flat)
            return np.where(middle != 0.0, width / middle, np.nan)
    if kind == "atr_rel":
        return batch.atr(h, lo, c, n) / c
    if kind == "adx":
        return batch.adx(h, lo, c, n) / 100.0
    if kind == "di_diff":
        return (batch.plus_di(h, lo, c, n) - batch.minus_di(h, lo, c, n)) / 100.0
    if kind.startswith("stoch_"):
        k, d = batch.stoch(h, lo, c, int(p["fastk"]), int(p["slowk"]), int(p["slowd"]))
        return (k if kind == "stoch_k" else d) / 100.0
    simple: dict[str, Any] = {
        "cci": lambda: batch.cci(h, lo, c, n) / 100.0,
        "willr": lambda: batch.willr(h, lo, c, n) / 100.0,
        "roc": lambda: batch.roc(c, n),
        "rv_close_to_close": lambda: batch.rv_close_to_close(c, n),
        "rv_parkinson": lambda: batch.rv_parkinson(h, lo, n),
        "close_zscore": lambda: batch.zscore(c, n),
        "volume_zscore": lambda: batch.zscore(s.volume, n),
        "rel_spread_bps": lambda: pd.Series(s.spread).ffill().to_numpy() / c * 1e4,
    }
    return simple[kind]()


def calendar_column(s: BarSeries, spec: FeatureSpec) -> FloatArray:
    minute = s.ts // 60_000 % 1440
    day = (s.ts // 86_400_000 + 3) % 7
    if spec.kind == "session_flag":
        p = spec.param_map
        hours = [in_session(h, int(p["open_hour"]), int(p["close_hour"])) for h in range(24)]
        return np.asarray(hours, dtype=np.float64)[minute // 60]
    table = {
        "time_of_day_sin": (TIME_OF_DAY_SIN, minute),
        "time_of_day_cos": (TIME_OF_DAY_COS, minute),
        "day_of_week_sin": (DAY_OF_WEEK_SIN, day),
        "day_of_week_cos": (DAY_OF_WEEK_COS, day),
    }
    values, index = table[spec.kind]
    return np.asarray(values, dtype=np.float64)[index]


def reference(feature_set: FeatureSet, s: BarSeries) -> FloatArray:
    columns = []
    for spec in feature_set.features:
        if spec.kind == "log_return":
            n, lag = int(spec.param_map["n"]), int(spec.param_map["lag"])
            column = lagged(scaled(log_return(s.close, n), spec.scaling), lag)
        elif spec.kind.startswith(("time_of_day", "day_of_week", "session")):
            column = calendar_column(s, spec)
        else:
            column = scaled(raw_column(s, spec), spec.scaling)
        columns.append(column)
    return np.ascontiguousarray(np.column_stack(columns))


def bars(size: int, seed: int, spread: bool = True) -> BarSeries:
    data = make_ohlcv(size, seed=seed)
    rng = np.random.default_rng(seed)
    known = rng.choice([1e-5, 2e-5, 3e-5], size)
    known[rng.random(size) < 0.1] = np.nan
    return BarSeries.from_arrays(
        ts=data.ts_ms - 1_700_000_000_000 - 3 * 86_400_000,  # from 3 days before the epoch
        open=data.open,
        high=data.high,
        low=data.low,
        close=data.close,
        volume=data.volume,
        spread=known if spread else None,
    )


def assert_same_bytes(got: FloatArray, want: FloatArray, names: tuple[str, ...]) -> None:
    assert got.shape == want.shape and got.dtype == np.float64 and got.flags.c_contiguous
    different = [
        name
        for j, name in enumerate(names)
        if got[:, j].tobytes() != np.ascontiguousarray(want[:, j]).tobytes()
    ]
    assert different == []


@pytest.mark.parametrize("threads", [0, 1, 2, 3])
def test_fx_core_matrix_is_its_columns_bit_for_bit(threads: int) -> None:
    s = bars(6000, seed=31)
    got = feature_matrix(FX_CORE_V1, s, threads=threads)
    assert_same_bytes(got, reference(FX_CORE_V1, s), FX_CORE_V1.names)


@pytest.mark.parametrize("size", [0, 1, 3, 4, 700])
def test_short_series_and_unknown_spread(size: int) -> None:
    s = bars(max(size, 1), seed=5, spread=False).slice(0, size)
    got = feature_matrix(FX_CORE_V1, s)
    assert_same_bytes(got, reference(FX_CORE_V1, s), FX_CORE_V1.names)


def test_divided_and_lagged_columns_under_a_scaler() -> None:
    """A ``/ 100`` column with a scaler is divided before it is scaled; a lag longer than
    the series is all NaN; a calendar-only set needs no source column."""
    robust = Scaling("robust", 50, 4.0, 20)
    zscore = Scaling("zscore", 40, 3.0, 10)
    custom = FeatureSet(
        "exact-test",
        1,
        (
            feature("rsi_z", "rsi", zscore, n=14),
            feature("cci_r", "cci", robust, n=20),
            feature("di_z", "di_diff", zscore, n=14),
            feature("ret_far", "log_return", robust, n=2, lag=5000),
            feature("ret_1", "log_return", robust, n=2, lag=1),
            feature("bw", "bb_bandwidth", zscore, n=20, k=2.0),
            feature("tod", "time_of_day_cos"),
        ),
    )
    s = bars(3000, seed=8)
    for threads in (0, 2):
        got = feature_matrix(custom, s, threads=threads)
        assert_same_bytes(got, reference(custom, s), custom.names)
    assert np.isnan(got[:, 3]).all()
    calendar = FeatureSet("calendar-test", 1, (feature("dow", "day_of_week_sin"),))
    assert_same_bytes(feature_matrix(calendar, s), reference(calendar, s), calendar.names)


class TestScalerOut:
    def test_out_and_in_place_give_the_same_bytes(self) -> None:
        x = np.random.default_rng(3).standard_normal(2000)
        x[::37] = np.nan
        for scale in (rolling_zscore_scale, rolling_robust_scale):
            want = scale(x, 100, 3.0, 20)
            buffer = np.empty(x.size)
            assert scale(x, 100, 3.0, 20, out=buffer) is buffer
            assert buffer.tobytes() == want.tobytes()
            inplace = x.copy()
            scale(inplace, 100, 3.0, 20, out=inplace)
            assert inplace.tobytes() == want.tobytes()

    def test_an_out_that_does_not_fit_is_refused(self) -> None:
        x = np.ones(10)
        for bad in (np.empty(9), np.empty(10, dtype=np.float32), np.empty(20)[::2]):
            with pytest.raises(InvalidFeatureInputError, match="expected out"):
                rolling_robust_scale(x, 5, out=bad)
