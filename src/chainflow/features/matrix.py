"""Batch feature matrix: a whole ``FeatureSet`` over arrays of bars, vectorized.

``feature_matrix(feature_set, ts=..., open=..., ...)`` returns the ``(n, k)`` float64 matrix
whose row ``t`` is what ``chainflow.features.engine.FeatureEngine.update`` returns for bar
``t`` (same NaN positions, values within relative 1e-9). Indicators come from
``chainflow.features.batch`` (computed once per distinct indicator and parameters), scaling
from ``chainflow.features.normalize``; definitions are in ``chainflow.features.sets``.

Every column (indicator, then scaler) is one task on a pool of ``threads`` workers: the
compiled kernels and NumPy's array operations release the GIL, so the columns run in
parallel; an indicator shared by several columns is computed once, by the first task
that needs it. The columns are then copied into the row-major matrix band by band
(``batch.kernels_matrix.fill_rows``), the bands split between the workers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.features.batch import momentum, volatility
from chainflow.features.batch.trend import directional  # one pass: ADX, +DI, -DI
from chainflow.features.engine import (
    DAY_OF_WEEK_COS,
    DAY_OF_WEEK_SIN,
    TIME_OF_DAY_COS,
    TIME_OF_DAY_SIN,
    in_session,
)
from chainflow.features.errors import InvalidFeatureInputError
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
                raise InvalidFeatureInputError(
                    f"expected {name} of shape ({size},) like close; received {arr.shape}"
                )
        self.size = size
        self.open, self.high, self.low = arrays["open"], arrays["high"], arrays["low"]
        self.close, self.volume, self.spread = arrays["close"], arrays["volume"], arrays["spread"]
        self._cache: dict[Any, Future[Any]] = {}
        self._lock = threading.Lock()

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, run once per ``key`` whichever thread asks first; the others wait."""
        with self._lock:
            future = self._cache.get(key)
            mine = future is None
            if future is None:
                future = self._cache[key] = Future()
        if mine:
            try:
                future.set_result(compute())
            except BaseException as error:
                future.set_exception(error)
        return future.result()

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
    spread in price units, NaN (or ``None`` for all) where unknown. The columns are
    computed on up to ``threads`` worker threads; ``threads=0`` computes everything on the
    calling thread. The result does not depend on ``threads``.
    """
    times = np.asarray(ts, dtype=np.int64)
    columns = {"open": open, "high": high, "low": low, "close": close, "volume": volume}
    bars = _Bars(columns, spread)
    if times.shape != (bars.size,):
        raise InvalidFeatureInputError(
            f"expected ts of shape ({bars.size},) like close; received {times.shape}"
        )
    if times.size > 1 and not bool(np.all(times[1:] > times[:-1])):
        first = int(np.flatnonzero(times[1:] <= times[:-1])[0])
        raise InvalidFeatureInputError(
            f"expected ts after {times[first]}; received {times[first + 1]}"
        )
    features = feature_set.features
    order = sorted(range(len(features)), key=lambda j: _priority(features[j]))
    out = np.empty((bars.size, len(features)), dtype=np.float64)
    if threads <= 0:
        computed = {j: _column(bars, times, features[j]) for j in order}
        _fill(out, [computed[j] for j in range(len(features))], [(0, bars.size)], None)
        return out
    with ThreadPoolExecutor(max_workers=threads) as pool:
        tasks = {j: pool.submit(_column, bars, times, features[j]) for j in order}
        done = [tasks[j].result() for j in range(len(features))]
        step = -(-bars.size // threads)
        bands = [(lo, min(lo + step, bars.size)) for lo in range(0, bars.size, max(step, 1))]
        _fill(out, done, bands, pool)
    return out


def _priority(spec: FeatureSpec) -> tuple[bool, bool]:
    """Sort key of the tasks: slow scalers first, so that the longest tasks do not start
    last; lagged returns last, as they wait for their unlagged return's scaler."""
    lagged = spec.kind == "log_return" and int(spec.param_map["lag"]) > 0
    return lagged, spec.scaling.method != "robust"


def _fill(
    out: FloatArray,
    columns: list[FloatArray],
    bands: list[tuple[int, int]],
    pool: ThreadPoolExecutor | None,
) -> None:
    """Copy ``columns`` into ``out``, each band of rows on a worker of ``pool``."""
    from chainflow.features.batch.kernels_matrix import fill_rows  # numba: lazily

    arrays = tuple(np.require(c, np.float64, ["C", "W"]) for c in columns)
    if pool is None:
        for first, stop in bands:
            fill_rows(out, arrays, first, stop)
        return
    for job in [pool.submit(fill_rows, out, arrays, first, stop) for first, stop in bands]:
        job.result()


def _column(bars: _Bars, times: NDArray[np.int64], spec: FeatureSpec) -> FloatArray:
    """The column of ``spec``: its indicator (shared through ``bars``), then its scaler."""
    if spec.kind == "log_return":
        n, lag = int(spec.param_map["n"]), int(spec.param_map["lag"])
        key = ("log_return", n, spec.scaling)
        base = bars.cached(key, lambda: scale_column(_log_return(bars.close, n), spec.scaling))
        out = np.full(bars.size, np.nan)  # the scaled return ``lag`` bars earlier (sets.py)
        if lag < bars.size:
            out[lag:] = base[: bars.size - lag]
        return out
    if spec.kind in _CALENDAR or spec.kind == "session_flag":
        return _calendar(bars, times, spec)
    return scale_column(_raw(bars, spec), spec.scaling)


def _log_return(close: FloatArray, n: int) -> FloatArray:
    r = np.full(close.shape, np.nan)
    if close.size > n:
        r[n:] = np.log(close[n:] / close[:-n])
    return r


_CALENDAR = ("time_of_day_sin", "time_of_day_cos", "day_of_week_sin", "day_of_week_cos")


def _calendar(bars: _Bars, times: NDArray[np.int64], spec: FeatureSpec) -> FloatArray:
    from chainflow.features.batch.kernels_matrix import calendar_indices  # numba: lazily

    minute, hour, day = bars.cached("calendar", lambda: calendar_indices(times))
    if spec.kind == "session_flag":
        p = spec.param_map
        flags = [in_session(h, int(p["open_hour"]), int(p["close_hour"])) for h in range(24)]
        return np.asarray(flags, dtype=np.float64)[hour]
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
        from chainflow.features.batch.kernels_matrix import forward_fill  # numba: lazily

        return forward_fill(bars.spread) / c * 1e4
    raise ValueError(f"expected a bar-indicator kind; received {kind!r}")
