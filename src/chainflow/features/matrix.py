"""Batch feature matrix: a whole ``FeatureSet`` over arrays of bars, vectorized.

``feature_matrix(feature_set, series)`` (a ``core.market.BarSeries``) returns the ``(n, k)``
float64 matrix whose row ``t`` is what ``chainflow.features.engine.FeatureEngine.update``
returns for bar ``t`` (same NaN positions, values within relative 1e-9). Indicators come from
``chainflow.features.batch`` (computed once per distinct indicator and parameters), scaling
from ``chainflow.features.normalize``; definitions are in ``chainflow.features.sets``.

Every column (indicator, then scaler) is one task on a pool of ``threads`` workers: the
compiled kernels and NumPy's array operations release the GIL, so the columns run in
parallel; an indicator shared by several columns is computed once, by the first task
that needs it. The columns are then copied into the row-major matrix band by band
(``batch.kernels_matrix.fill_rows``), the bands split between the workers. What needs no
array of its own is left to that copy: a task returns a ``_Column``, a source array with
a lag and a divisor (the lagged returns share their unlagged return's array, the
oscillators' ``/ 100`` is done there), or a calendar table that the copy looks up by
each bar's time. The scalers write into rows of one buffer that the calling thread
allocates, and the inputs computed here (a return, ``macd / close``) are written in the
same row and scaled in place. Each fresh 8 MB array (per 1M bars) avoided saves its
allocation, the first touch of its pages (system time: on this loaded 2-core machine
more than the copy) and a pass; bit for bit the same values (``tests/features/
test_matrix_exact.py``). 1M bars of ``fx-core@1``, 2 threads, back to back on a loaded
2-core machine: process CPU (user + system) 1.2-1.5 s -> 0.75 s per call, page faults
~20k -> 2-11k (``benchmarks/features.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.core.market import BarSeries
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


def scale_column(raw: FloatArray, scaling: Scaling, out: FloatArray | None = None) -> FloatArray:
    """Apply the past-only batch scaler of ``scaling`` (identity for ``"none"``), into
    ``out`` if given."""
    args = (raw, scaling.window, scaling.clip, scaling.min_periods)
    if scaling.method == "zscore":
        return rolling_zscore_scale(*args, out=out)
    if scaling.method == "robust":
        return rolling_robust_scale(*args, out=out)
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


def feature_matrix(feature_set: FeatureSet, series: BarSeries, *, threads: int = 2) -> FloatArray:
    """Return the ``(len(series), len(feature_set.names))`` feature matrix of the bars.

    ``series`` is checked where it was built (``BarSeries``: equal lengths, increasing
    ``ts``); its unknown spreads are NaN. The columns are computed on up to ``threads``
    worker threads; ``threads=0`` computes everything on the calling thread. The result
    does not depend on ``threads``.
    """
    times = series.ts
    columns: dict[str, ArrayLike] = {
        "open": series.open,
        "high": series.high,
        "low": series.low,
        "close": series.close,
        "volume": series.volume,
    }
    bars = _Bars(columns, series.spread)
    features = feature_set.features
    order = sorted(range(len(features)), key=lambda j: _priority(features[j]))
    out = np.empty((bars.size, len(features)), dtype=np.float64)
    keys = [_scaled_key(j, spec) for j, spec in enumerate(features)]
    distinct = list(dict.fromkeys(key for key in keys if key is not None))
    scaled = np.empty((len(distinct), bars.size))  # the scalers' outputs, allocated here
    rows = [None if key is None else scaled[distinct.index(key)] for key in keys]
    if threads <= 0:
        computed = {j: _column(bars, features[j], rows[j]) for j in order}
        done = [computed[j] for j in range(len(features))]
        _fill(out, done, times, [(0, bars.size)], None)
        return out
    with ThreadPoolExecutor(max_workers=threads) as pool:
        tasks = {j: pool.submit(_column, bars, features[j], rows[j]) for j in order}
        done = [tasks[j].result() for j in range(len(features))]
        step = -(-bars.size // threads)
        bands = [(lo, min(lo + step, bars.size)) for lo in range(0, bars.size, max(step, 1))]
        _fill(out, done, times, bands, pool)
    return out


def _priority(spec: FeatureSpec) -> tuple[bool, bool]:
    """Sort key of the tasks: slow scalers first, so that the longest tasks do not start
    last; lagged returns last, as they wait for their unlagged return's scaler."""
    lagged = spec.kind == "log_return" and int(spec.param_map["lag"]) > 0
    return lagged, spec.scaling.method != "robust"


class _Column(NamedTuple):
    """One output column as ``fill_rows`` writes it: ``source[t - lag] / divisor`` (NaN
    for ``t < lag``), or, with a ``table``, the table's value at the bar's minute of the
    day (1440 values) or weekday (``by_day``, 7 values)."""

    source: FloatArray | None = None
    lag: int = 0
    divisor: float = 1.0
    table: FloatArray | None = None
    by_day: bool = False


def _fill(
    out: FloatArray,
    columns: list[_Column],
    times: NDArray[np.int64],
    bands: list[tuple[int, int]],
    pool: ThreadPoolExecutor | None,
) -> None:
    """Write ``columns`` into ``out``, each band of rows on a worker of ``pool``."""
    from chainflow.features.batch.kernels_matrix import fill_rows  # numba: lazily

    sources: list[FloatArray] = []
    position: dict[int, int] = {}  # id of a source -> its index in ``sources``
    tables = np.zeros((len(columns), len(TIME_OF_DAY_SIN)))
    source_of = np.zeros(len(columns), dtype=np.int64)
    table_of = np.full(len(columns), -1, dtype=np.int64)
    for j, column in enumerate(columns):
        if column.table is not None:
            tables[j, : column.table.size] = column.table
            table_of[j] = j
        elif column.source is not None:
            if id(column.source) not in position:
                position[id(column.source)] = len(sources)
                sources.append(np.require(column.source, np.float64, ["C", "W"]))
            source_of[j] = position[id(column.source)]
    lags = np.array([column.lag for column in columns], dtype=np.int64)
    divisors = np.array([column.divisor for column in columns], dtype=np.float64)
    by_day = np.array([column.by_day for column in columns], dtype=np.bool_)
    arrays = tuple(sources) if sources else (np.empty(0),)  # numba: no empty tuple
    args = (arrays, source_of, lags, divisors, times, tables, table_of, by_day)
    if pool is None:
        for first, stop in bands:
            fill_rows(out, *args, first, stop)
        return
    for job in [pool.submit(fill_rows, out, *args, first, stop) for first, stop in bands]:
        job.result()


def _scaled_key(j: int, spec: FeatureSpec) -> Any:
    """What identifies the scaler output of feature ``j`` (the lagged returns share their
    unlagged return's); ``None`` without a scaler."""
    if spec.scaling.method == "none" or spec.kind in _CALENDAR or spec.kind == "session_flag":
        return None
    if spec.kind == "log_return":
        return ("log_return", int(spec.param_map["n"]), spec.scaling)
    return j


def _column(bars: _Bars, spec: FeatureSpec, scaled: FloatArray | None) -> _Column:
    """The column of ``spec``: its indicator (shared through ``bars``), then its scaler,
    which writes into ``scaled``: a row of one buffer allocated by the calling thread.
    8 MB arrays allocated and freed by worker threads (glibc's per-thread arenas, trimmed
    at each free) are faulted in afresh at every call: with the rows, half the page
    faults of a 1M-bar call (21k -> 11k, median of 12)."""
    if spec.kind == "log_return":
        n, lag = int(spec.param_map["n"]), int(spec.param_map["lag"])
        key = ("log_return", n, spec.scaling)
        base = bars.cached(
            key, lambda: scale_column(_log_return(bars.close, n, scaled), spec.scaling, scaled)
        )
        return _Column(base, lag=lag)  # the scaled return ``lag`` bars earlier (sets.py)
    if spec.kind in _CALENDAR:
        values, by_day = _CALENDAR[spec.kind]
        return _Column(table=values, by_day=by_day)
    if spec.kind == "session_flag":
        p = spec.param_map
        return _Column(table=_session_table(int(p["open_hour"]), int(p["close_hour"])))
    raw, divisor = _raw(bars, spec, scaled)
    if spec.scaling.method == "none":
        return _Column(raw, divisor=divisor)
    if divisor != 1.0:
        raw = np.divide(raw, divisor, out=scaled)
    return _Column(scale_column(raw, spec.scaling, scaled))  # in place when ``raw is scaled``


def _log_return(close: FloatArray, n: int, into: FloatArray | None) -> FloatArray:
    """``log(close[t] / close[t - n])``, NaN for the first ``n`` bars, in ``into`` (or a
    new array)."""
    r = np.empty(close.shape) if into is None else into
    r[:n] = np.nan
    if close.size > n:
        tail = r[n:]
        np.divide(close[n:], close[:-n], out=tail)
        np.log(tail, out=tail)
    return r


_CALENDAR = {
    "time_of_day_sin": (np.asarray(TIME_OF_DAY_SIN, dtype=np.float64), False),
    "time_of_day_cos": (np.asarray(TIME_OF_DAY_COS, dtype=np.float64), False),
    "day_of_week_sin": (np.asarray(DAY_OF_WEEK_SIN, dtype=np.float64), True),
    "day_of_week_cos": (np.asarray(DAY_OF_WEEK_COS, dtype=np.float64), True),
}


@cache
def _session_table(open_hour: int, close_hour: int) -> FloatArray:
    """The session flag (1.0 or 0.0) at each minute of the day."""
    flags = [in_session(m // 60, open_hour, close_hour) for m in range(len(TIME_OF_DAY_SIN))]
    return np.asarray(flags, dtype=np.float64)


def _target(bars: _Bars, into: FloatArray | None) -> FloatArray:
    return np.empty(bars.size) if into is None else into


def _raw(  # noqa: C901, PLR0911 - one branch per kind
    bars: _Bars, spec: FeatureSpec, into: FloatArray | None
) -> tuple[FloatArray, float]:
    """The indicator of ``spec`` and what to divide it by. What is computed here, not by
    an indicator of ``batch``, is written in ``into`` when given (the scaler's row: the
    scaler then runs in place)."""
    from chainflow.features.batch import kernels_matrix as kernels  # numba: lazily

    kind, p = spec.kind, spec.param_map
    c = bars.close
    n = int(p.get("n", 0))
    if kind == "rsi":
        return momentum.rsi(c, n), 100.0
    if kind.startswith("macd_"):
        args = (int(p["fast"]), int(p["slow"]), int(p["signal"]))
        line, signal, hist = bars.cached(("macd", args), lambda: momentum.macd(c, *args))
        chosen = {"macd_line": line, "macd_signal": signal, "macd_hist": hist}[kind]
        return np.divide(chosen, c, out=_target(bars, into)), 1.0
    if kind.startswith("bb_"):
        k = float(p["k"])
        upper, middle, lower = bars.cached(("bbands", n, k), lambda: volatility.bbands(c, n, k))
        target = _target(bars, into)
        if kind == "bb_percent_b":
            kernels.bollinger_percent_b(c, upper, lower, target)
        else:
            kernels.bollinger_bandwidth(upper, middle, lower, target)
        return target, 1.0
    if kind == "atr_rel":
        return np.divide(volatility.atr(*bars.hlc(), n), c, out=_target(bars, into)), 1.0
    if kind in ("adx", "di_diff"):
        adx, plus_di, minus_di = bars.cached(("adx", n), lambda: directional(*bars.hlc(), n))
        return (adx if kind == "adx" else plus_di - minus_di), 100.0
    if kind.startswith("stoch_"):
        args = (int(p["fastk"]), int(p["slowk"]), int(p["slowd"]))
        slowk, slowd = bars.cached(("stoch", args), lambda: momentum.stoch(*bars.hlc(), *args))
        return (slowk if kind == "stoch_k" else slowd), 100.0
    if kind == "cci":
        return momentum.cci(*bars.hlc(), n), 100.0
    if kind == "willr":
        return momentum.willr(*bars.hlc(), n), 100.0
    if kind == "roc":
        return momentum.roc(c, n), 1.0
    if kind == "rv_close_to_close":
        return volatility.rv_close_to_close(c, n), 1.0
    if kind == "rv_parkinson":
        return volatility.rv_parkinson(bars.high, bars.low, n), 1.0
    if kind == "close_zscore":
        return volatility.zscore(c, n), 1.0
    if kind == "volume_zscore":
        return volatility.zscore(bars.volume, n), 1.0
    if kind == "rel_spread_bps":
        target = _target(bars, into)
        kernels.relative_spread_bps(bars.spread, c, target)
        return target, 1.0
    raise ValueError(f"expected a bar-indicator kind; received {kind!r}")
