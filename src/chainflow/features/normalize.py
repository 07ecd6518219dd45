"""Past-only rolling scalers: streaming (``RollingZScoreScaler``, ``RollingRobustScaler``)
and their batch twins (``rolling_zscore_scale``, ``rolling_robust_scale``).

The scaled value of ``x[t]`` uses the statistics of the previous ``window`` finite values
only (``x[t]`` itself excluded), so a model never sees its own bar in the scale:

- z-score: ``(x - mean) / std`` (population std);
- robust: ``(x - median) / (q75 - q25)``, quartiles by linear interpolation between order
  statistics (numpy's default ``linear`` method, pandas' ``interpolation="linear"``).

Then clipped to ``±clip``. NaN (or infinite) input gives NaN and is not added to the
window; the output is NaN until ``min_periods`` past values are known. A zero scale (a
constant window: all values identical, or a zero IQR) gives 0.0. Streaming and batch agree
to ~1e-13 relative: the stream keeps sums of deviations from a shift and re-sums exactly
every ``8 * window`` values; the batch (``batch.kernels_scalers``, compiled) repeats
pandas' rolling numerics (compensated) on the finite values, shifted by one. Both treat a
window of identical values as exactly constant.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.features.errors import FeatureStateMismatchError, InvalidFeatureInputError
from chainflow.features.marked_fifo import MarkedFifo

__all__ = [
    "SCALER_TYPES",
    "RollingRobustScaler",
    "Scaler",
    "RollingZScoreScaler",
    "rolling_robust_scale",
    "rolling_zscore_scale",
]

FloatArray = NDArray[np.float64]
NAN = math.nan
RESUM_EVERY_WINDOWS = 8  # exact re-sum of the z-score window every 8 windows of values


def check_scaler_params(window: int, clip: float, min_periods: int | None) -> int:
    """Validate the parameters; return ``min_periods`` (``window`` when ``None``)."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise InvalidFeatureInputError(
            f"expected window to be an integer >= 1; received {window!r}"
        )
    if not clip > 0.0:
        raise InvalidFeatureInputError(f"expected clip > 0; received {clip!r}")
    periods = window if min_periods is None else min_periods
    if not 1 <= periods <= window:
        raise InvalidFeatureInputError(
            f"expected 1 <= min_periods <= {window}; received {min_periods!r}"
        )
    return periods


def _clip(z: float, clip: float) -> float:
    if z > clip:
        return clip
    if z < -clip:
        return -clip
    return z


def _check_kind(snapshot: dict[str, Any], kind: str, params: dict[str, Any]) -> None:
    if snapshot.get("kind") != kind or snapshot.get("params") != params:
        raise FeatureStateMismatchError(
            f"expected a {kind} snapshot with params {params}; "
            f"received {snapshot.get('kind')} with {snapshot.get('params')}"
        )


class _RollingScaler(MarkedFifo):
    """Parameters shared by the past-only scalers: ``window``, ``clip``, ``min_periods``.

    A scaler's output for ``x`` depends only on the window *before* ``x``; while ``frozen``
    (``FeatureEngine.preview``), ``update`` returns that output without adding ``x``.

    ``mark()`` and ``rewind(mark)`` undo the values added since the mark (a pipeline's
    checkpoint and rollback, ``SymbolPipeline``), without copying the window
    (``marked_fifo.MarkedFifo``).
    """

    frozen = False

    def __init__(self, window: int, clip: float = 5.0, min_periods: int | None = None) -> None:
        self.min_periods = check_scaler_params(window, clip, min_periods)
        self.window = window
        self.clip = float(clip)
        self.reset()

    @property
    def params(self) -> dict[str, Any]:
        return {"window": self.window, "clip": self.clip, "min_periods": self.min_periods}

    def reset(self) -> None:
        raise NotImplementedError


class RollingZScoreScaler(_RollingScaler):
    """``(x - mean) / std`` over the previous ``window`` finite values, clipped."""

    def reset(self) -> None:
        self._values: deque[float] = deque()
        self._shift = 0.0
        self._s1 = 0.0  # sum of (v - shift) over the window
        self._s2 = 0.0  # sum of (v - shift)^2
        self._pushes = 0  # values added since the last exact re-sum
        self._run = 0  # trailing run of identical values
        self._last = NAN
        self._mark = None

    @property
    def count(self) -> int:
        """Finite values in the window."""
        return len(self._values)

    def update(self, x: float) -> float:
        """Return ``x`` scaled by the previous values, then add ``x`` to the window."""
        x = float(x)
        if not math.isfinite(x):
            return NAN
        m = len(self._values)
        out = NAN
        if m >= self.min_periods:
            if self._run >= m:
                out = 0.0
            else:
                dev = self._s1 / m
                var = self._s2 / m - dev * dev
                std = math.sqrt(var) if var > 0.0 else 0.0
                out = _clip((x - (self._shift + dev)) / std, self.clip) if std > 0.0 else 0.0
        if not self.frozen:
            self._push(x)
        return out

    def _push(self, x: float) -> None:
        values = self._values
        if not values:
            self._shift, self._s1, self._s2, self._pushes = x, 0.0, 0.0, 0
        elif len(values) == self.window:
            oldest = values.popleft()
            if self._mark is not None:
                self._note_dropped(oldest)
            d = oldest - self._shift
            self._s1 -= d
            self._s2 -= d * d
        values.append(x)
        d = x - self._shift
        self._s1 += d
        self._s2 += d * d
        self._run = self._run + 1 if x == self._last else 1
        self._last = x
        self._pushes += 1
        if self._pushes >= self.window * RESUM_EVERY_WINDOWS:
            self._resum()

    def _resum(self) -> None:
        """Exact re-sum every ``8 * window`` values (amortized O(1)), bounding the drift."""
        values = self._values
        self._shift = math.fsum(values) / len(values)
        self._s1 = math.fsum(v - self._shift for v in values)
        self._s2 = math.fsum((v - self._shift) ** 2 for v in values)
        self._pushes = 0

    def _scalars(self) -> tuple[Any, ...]:
        return (self._shift, self._s1, self._s2, self._pushes, self._run, self._last)

    def _set_scalars(self, scalars: tuple[Any, ...]) -> None:
        self._shift, self._s1, self._s2, self._pushes, self._run, self._last = scalars

    def snapshot(self) -> dict[str, Any]:
        """Whole state as strict JSON (every number finite)."""
        return {
            "kind": "zscore",
            "params": self.params,
            "values": list(self._values),
            "shift": self._shift,
            "s1": self._s1,
            "s2": self._s2,
            "pushes": self._pushes,
            "run": self._run,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Continue from a ``snapshot()`` of a scaler with the same parameters."""
        _check_kind(snapshot, "zscore", self.params)
        self._values = deque(map(float, snapshot["values"]))
        self._shift = float(snapshot["shift"])
        self._s1 = float(snapshot["s1"])
        self._s2 = float(snapshot["s2"])
        self._pushes = int(snapshot["pushes"])
        self._run = int(snapshot["run"])
        self._last = self._values[-1] if self._values else NAN
        self._mark = None


def quantile_sorted(values: list[float], q: float) -> float:
    """Linear-interpolated quantile of sorted ``values`` (pandas' rolling formula)."""
    position = q * (len(values) - 1)
    low = int(position)
    if position == low:
        return values[low]
    v_low = values[low]
    return v_low + (values[low + 1] - v_low) * (position - low)


class RollingRobustScaler(_RollingScaler):
    """``(x - median) / IQR`` over the previous ``window`` finite values, clipped."""

    def reset(self) -> None:
        self._values: deque[float] = deque()
        self._sorted: list[float] = []
        self._mark = None

    @property
    def count(self) -> int:
        return len(self._values)

    def update(self, x: float) -> float:
        """Return ``x`` scaled by the previous values, then add ``x`` to the window."""
        x = float(x)
        if not math.isfinite(x):
            return NAN
        ordered = self._sorted
        out = NAN
        if len(ordered) >= self.min_periods:
            q25 = quantile_sorted(ordered, 0.25)
            iqr = quantile_sorted(ordered, 0.75) - q25
            if iqr > 0.0:
                out = _clip((x - quantile_sorted(ordered, 0.5)) / iqr, self.clip)
            else:
                out = 0.0
        if self.frozen:
            return out
        values = self._values
        if len(values) == self.window:
            oldest = values.popleft()
            if self._mark is not None:
                self._note_dropped(oldest)
            del ordered[bisect_left(ordered, oldest)]
        values.append(x)
        insort(ordered, x)
        return out

    def _drop_newest(self) -> None:
        ordered = self._sorted
        del ordered[bisect_left(ordered, self._values.pop())]

    def _put_back_oldest(self, dropped: list[float]) -> None:
        self._values.extendleft(reversed(dropped))
        for value in dropped:
            insort(self._sorted, value)

    def snapshot(self) -> dict[str, Any]:
        return {"kind": "robust", "params": self.params, "values": list(self._values)}

    def restore(self, snapshot: dict[str, Any]) -> None:
        _check_kind(snapshot, "robust", self.params)
        self._values = deque(map(float, snapshot["values"]))
        self._sorted = sorted(self._values)
        self._mark = None


def _series(x: ArrayLike) -> FloatArray:
    arr = np.ascontiguousarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidFeatureInputError(
            f"expected a one-dimensional array; received shape {arr.shape}"
        )
    return arr


def _output(series: FloatArray, out: FloatArray | None) -> FloatArray:
    """``out`` checked to fit ``series`` (a new array when ``None``)."""
    if out is None:
        return np.empty(series.size)
    fits = out.dtype == np.float64 and out.flags.c_contiguous and out.flags.writeable
    if not fits or out.shape != series.shape:
        raise InvalidFeatureInputError(
            f"expected out a writable contiguous float64 array of shape {series.shape}; "
            f"received {out.dtype} of shape {out.shape}"
        )
    return out


def rolling_zscore_scale(
    x: ArrayLike,
    window: int,
    clip: float = 5.0,
    min_periods: int | None = None,
    *,
    out: FloatArray | None = None,
) -> FloatArray:
    """Batch twin of ``RollingZScoreScaler`` (one compiled pass, pandas' rolling numerics).

    ``out``: where to write the result (returned), e.g. a row of a buffer allocated once
    by the caller's thread (``matrix.py``: fresh arrays in worker threads cost page
    faults)."""
    from chainflow.features.batch.kernels_scalers import zscore_scale_kernel  # numba: lazily

    periods = check_scaler_params(window, clip, min_periods)
    series = _series(x)
    result = _output(series, out)
    zscore_scale_kernel(series, window, float(clip), periods, result)
    return result


def rolling_robust_scale(
    x: ArrayLike,
    window: int,
    clip: float = 5.0,
    min_periods: int | None = None,
    *,
    out: FloatArray | None = None,
) -> FloatArray:
    """Batch twin of ``RollingRobustScaler`` (one compiled pass over a sorted window);
    ``out`` as in ``rolling_zscore_scale``."""
    from chainflow.features.batch.kernels_scalers import robust_scale_kernel  # numba: lazily

    periods = check_scaler_params(window, clip, min_periods)
    series = _series(x)
    result = _output(series, out)
    robust_scale_kernel(series, window, float(clip), periods, result)
    return result


Scaler = RollingZScoreScaler | RollingRobustScaler
SCALER_TYPES = (RollingZScoreScaler, RollingRobustScaler)


def scalers_in(components: Iterable[Any]) -> list[Scaler]:
    """Return the rolling scalers among ``components`` and held by them (``.scaler``)."""
    found: list[Scaler] = []
    for component in components:
        if isinstance(component, SCALER_TYPES):
            found.append(component)
        elif isinstance(getattr(component, "scaler", None), SCALER_TYPES):
            found.append(component.scaler)
    return found
