"""Batch feature matrix: a whole ``FeatureSet`` over arrays of bars, vectorized.

``feature_matrix(feature_set, ts=..., open=..., ...)`` returns the ``(n, k)`` float64 matrix
whose row ``t`` is what ``chainflow.features.engine.FeatureEngine.update`` returns for bar
``t`` (same NaN positions, values within relative 1e-9). Indicators come from
``chainflow.features.batch`` (computed once per distinct indicator and parameters), scaling
from ``chainflow.features.normalize``; definitions are in ``chainflow.features.sets``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from chainflow.features.batch import momentum, volatility
from chainflow.features.batch.trend import directional  # one pass: ADX, +DI, -DI
from chainflow.features.engine import (
    DAY_MS,
    DAY_OF_WEEK_COS,
    DAY_OF_WEEK_SIN,
    MINUTE_MS,
    TIME_OF_DAY_COS,
    TIME_OF_DAY_SIN,
    in_session,
)
from chainflow.features.normalize import rolling_robust_scale, rolling_zscore_scale
from chainflow.features.sets import FeatureSet, FeatureSpec, Scaling

__all__ = ["feature_matrix"]

FloatArray = NDArray[np.float64]


def scale_column(raw: FloatArray, scaling: Scaling) -> FloatArray:
    """Apply the past-only batch scaler of ``scaling`` (identity for ``"none"``)."""
    if scaling.method == "zscore":
        return rolling_zscore_scale(raw, scaling.window, scaling.clip, scaling.min_periods)
    if scaling.method == "robust":
        return rolling_robust_scale(raw, scaling.window, scaling.clip, scaling.min_periods)
    return raw


class _Bars:
    """The input columns, checked, with a cache of indicator outputs shared by features."""

    def __init__(self, columns: dict[str, ArrayLike], spread: ArrayLike | None) -> None:
        arrays = {name: np.asarray(col, dtype=np.float64) for name, col in columns.items()}
        size = arrays["close"].shape[0]
        if spread is None:
            arrays["spread"] = np.full(size, np.nan)
        else:
            arrays["spread"] = np.asarray(spread, dtype=np.float64)
        for name, arr in arrays.items():
            if arr.shape != (size,):
                raise ValueError(
                    f"expected {name} of shape ({size},) like close; received {arr.shape}"
                )
        self.size = size
        self.open, self.high, self.low = arrays["open"], arrays["high"], arrays["low"]
        self.close, self.volume, self.spread = arrays["close"], arrays["volume"], arrays["spread"]
        self._cache: dict[Any, Any] = {}

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def hlc(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        return self.high, self.low, self.close


def feature_matrix(
    feature_set: FeatureSet,
    *,
    ts: ArrayLike,
    open: ArrayLike,  # noqa: A002 - the bar field's name
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    volume: ArrayLike,
    spread: ArrayLike | None = None,
    threads: int = 2,
) -> FloatArray:
    """Return the ``(len(close), len(feature_set.names))`` feature matrix of the bars.

    ``ts`` is each bar's open time (epoch ms, UTC, increasing); ``spread`` the bar mean
    spread in price units, NaN (or ``None`` for all) where unknown. Rolling scalers (which
    release the GIL) run on up to ``threads`` worker threads while the indicators that
    loop in Python run on the calling thread; ``threads=0`` computes everything inline.
    """
    times = np.asarray(ts, dtype=np.int64)
    columns = {"open": open, "high": high, "low": low, "close": close, "volume": volume}
    bars = _Bars(columns, spread)
    if times.shape != (bars.size,):
        raise ValueError(f"expected ts of shape ({bars.size},) like close; received {times.shape}")
    if times.size > 1 and not bool(np.all(times[1:] > times[:-1])):
        first = int(np.flatnonzero(times[1:] <= times[:-1])[0])
        raise ValueError(f"expected ts after {times[first]}; received {times[first + 1]}")
    features = feature_set.features
    # Slow scalers first, so their worker threads start while the indicators are computed.
    order = sorted(range(len(features)), key=lambda j: features[j].scaling.method != "robust")
    pool = ThreadPoolExecutor(max_workers=threads) if threads > 0 else None
    try:
        results: dict[int, Any] = {}
        for j in order:
            results[j] = _column(bars, times, features[j], pool)
        out = np.empty((bars.size, len(features)), dtype=np.float64)
        for j, spec in enumerate(features):
            out[:, j] = _resolve(results[j], spec, bars.size)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return out


def _submit(pool: ThreadPoolExecutor | None, raw: FloatArray, scaling: Scaling) -> Any:
    if pool is None or scaling.method == "none":
        return scale_column(raw, scaling)
    return pool.submit(scale_column, raw, scaling)


def _column(
    bars: _Bars, times: NDArray[np.int64], spec: FeatureSpec, pool: ThreadPoolExecutor | None
) -> Any:
    """The column of ``spec``: an array, a future of one, or a ``(lag, future)`` pair."""
    if spec.kind == "log_return":
        n, lag = int(spec.param_map["n"]), int(spec.param_map["lag"])
        key = ("log_return", n, spec.scaling)
        return lag, bars.cached(
            key, lambda: _submit(pool, _log_return(bars.close, n), spec.scaling)
        )
    if spec.kind in _CALENDAR or spec.kind == "session_flag":
        return _calendar(times, spec)
    return _submit(pool, _raw(bars, spec), spec.scaling)


def _resolve(result: Any, spec: FeatureSpec, size: int) -> FloatArray:
    if spec.kind != "log_return":
        return result.result() if isinstance(result, Future) else result
    lag, base = result
    base = base.result() if isinstance(base, Future) else base
    out = np.full(size, np.nan)  # the scaled return ``lag`` bars earlier (see sets.py)
    if lag < size:
        out[lag:] = base[: size - lag]
    return out


def _log_return(close: FloatArray, n: int) -> FloatArray:
    r = np.full(close.shape, np.nan)
    if close.size > n:
        r[n:] = np.log(close[n:] / close[:-n])
    return r


_CALENDAR = ("time_of_day_sin", "time_of_day_cos", "day_of_week_sin", "day_of_week_cos")


def _calendar(times: NDArray[np.int64], spec: FeatureSpec) -> FloatArray:
    if spec.kind == "session_flag":
        p = spec.param_map
        flags = [in_session(h, int(p["open_hour"]), int(p["close_hour"])) for h in range(24)]
        return np.asarray(flags, dtype=np.float64)[times // 3_600_000 % 24]
    minute = times // MINUTE_MS % 1440
    day = (times // DAY_MS + 3) % 7
    table = {
        "time_of_day_sin": (TIME_OF_DAY_SIN, minute),
        "time_of_day_cos": (TIME_OF_DAY_COS, minute),
        "day_of_week_sin": (DAY_OF_WEEK_SIN, day),
        "day_of_week_cos": (DAY_OF_WEEK_COS, day),
    }
    values, index = table[spec.kind]
    return np.asarray(values, dtype=np.float64)[index]


def _raw(bars: _Bars, spec: FeatureSpec) -> FloatArray:  # noqa: C901 - one branch per kind
    kind, p = spec.kind, spec.param_map
    c = bars.close
    n = int(p.get("n", 0))
    if kind == "rsi":
        return momentum.rsi(c, n) / 100.0
    if kind.startswith("macd_"):
        args = (int(p["fast"]), int(p["slow"]), int(p["signal"]))
        line, signal, hist = bars.cached(("macd", args), lambda: momentum.macd(c, *args))
        return {"macd_line": line, "macd_signal": signal, "macd_hist": hist}[kind] / c
    if kind.startswith("bb_"):
        k = float(p["k"])
        upper, middle, lower = bars.cached(("bbands", n, k), lambda: volatility.bbands(c, n, k))
        width = upper - lower
        with np.errstate(divide="ignore", invalid="ignore"):
            if kind == "bb_percent_b":
                flat = np.where(np.isnan(width), np.nan, 0.5)
                return np.where(width > 0.0, (c - lower) / width, flat)
            return np.where(middle != 0.0, width / middle, np.nan)
    if kind == "atr_rel":
        return volatility.atr(*bars.hlc(), n) / c
    if kind in ("adx", "di_diff"):
        adx, plus_di, minus_di = bars.cached(("adx", n), lambda: directional(*bars.hlc(), n))
        return adx / 100.0 if kind == "adx" else (plus_di - minus_di) / 100.0
    if kind.startswith("stoch_"):
        args = (int(p["fastk"]), int(p["slowk"]), int(p["slowd"]))
        slowk, slowd = bars.cached(("stoch", args), lambda: momentum.stoch(*bars.hlc(), *args))
        return (slowk if kind == "stoch_k" else slowd) / 100.0
    if kind == "cci":
        return momentum.cci(*bars.hlc(), n) / 100.0
    if kind == "willr":
        return momentum.willr(*bars.hlc(), n) / 100.0
    if kind == "roc":
        return momentum.roc(c, n)
    if kind == "rv_close_to_close":
        return volatility.rv_close_to_close(c, n)
    if kind == "rv_parkinson":
        return volatility.rv_parkinson(bars.high, bars.low, n)
    if kind == "close_zscore":
        return volatility.zscore(c, n)
    if kind == "volume_zscore":
        return volatility.zscore(bars.volume, n)
    if kind == "rel_spread_bps":
        known = pd.Series(bars.spread).ffill().to_numpy()
        return known / c * 1e4
    raise ValueError(f"expected a bar-indicator kind; received {kind!r}")
