"""Labels and regression targets of a bar series, vectorized (NumPy).

Classes are encoded ``DOWN = 0``, ``FLAT = 1``, ``UP = 2`` (``CLASS_NAMES``); ``UNUSABLE = -1``
marks a row whose label cannot be known from the bars (horizon past the last bar, ATR still
in its warm-up). The label of row ``t`` uses the ATR at ``t`` (known at the close of bar
``t``) and only bars ``t+1 .. t+horizon`` of the future; ``label_end`` is the index of the
bar at whose close the label became known.

- ``direction``: forward log return ``r = log(close[t+h] / close[t])`` against the band
  ``b = threshold_atr * atr[t] / close[t]``: ``r > b`` is UP, ``r < -b`` DOWN, else FLAT
  (strict, so a zero threshold makes an unchanged close FLAT). ``label_end = t + h``.
- ``triple_barrier``: barriers ``close[t] ± threshold_atr * atr[t]``; the first bar of
  ``t+1 .. t+h`` whose high reaches the upper barrier (``>=``) gives UP, whose low reaches
  the lower barrier (``<=``) gives DOWN, and ``label_end`` is that bar. A bar that reaches
  both barriers is ambiguous (the order inside the bar is unknown): the label is FLAT and
  ``label_end`` that bar. No touch by ``t+h`` is FLAT with ``label_end = t + h``.

Targets: ``forward_volatility`` (root mean squared log return over ``t+1 .. t+h``) and
``forward_momentum`` (the forward log return in ATR units). ``past_volatility`` and
``previous_direction`` are the same quantities looking back, known at ``t`` (baselines).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from chainflow.features.batch.volatility import atr as wilder_atr
from chainflow.ml.errors import InvalidMlInputError

__all__ = [
    "CLASS_NAMES",
    "DOWN",
    "FLAT",
    "LABEL_KINDS",
    "UNUSABLE",
    "UP",
    "LabelSpec",
    "Labels",
    "compute_labels",
    "direction_labels",
    "forward_momentum",
    "forward_volatility",
    "past_volatility",
    "previous_direction",
    "triple_barrier_labels",
]

DOWN, FLAT, UP = 0, 1, 2
UNUSABLE = -1
CLASS_NAMES = ("down", "flat", "up")
LABEL_KINDS = ("direction", "triple_barrier")

LabelKind = Literal["direction", "triple_barrier"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class LabelSpec:
    """How rows are labelled: the kind, the horizon in bars and the ATR band."""

    kind: LabelKind = "direction"
    horizon: int = 12
    threshold_atr: float = 0.5
    atr_period: int = 14

    def __post_init__(self) -> None:
        if self.kind not in LABEL_KINDS:
            raise InvalidMlInputError(f"expected kind among {LABEL_KINDS}; received {self.kind!r}")
        _check_horizon(self.horizon)
        if not isinstance(self.atr_period, int) or self.atr_period < 1:
            raise InvalidMlInputError(
                f"expected atr_period an int >= 1; received {self.atr_period!r}"
            )
        _check_threshold(self.kind, self.threshold_atr)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "horizon": self.horizon,
            "threshold_atr": float(self.threshold_atr),
            "atr_period": self.atr_period,
        }


@dataclass(frozen=True, slots=True)
class Labels:
    """Per-bar labels of a series: ``label`` (-1 where unusable), ``label_end`` (bar index,
    -1 where unusable), the ``atr`` used, and the regression targets (NaN where unknown)."""

    label: IntArray
    label_end: IntArray
    atr: FloatArray
    forward_volatility: FloatArray
    forward_momentum: FloatArray


def compute_labels(spec: LabelSpec, *, high: ArrayLike, low: ArrayLike, close: ArrayLike) -> Labels:
    """Labels and targets of the bars under ``spec`` (Wilder ATR of ``spec.atr_period``)."""
    c = _float_1d("close", close)
    h = _float_1d("high", high, c.size)
    lo = _float_1d("low", low, c.size)
    atr = np.asarray(wilder_atr(h, lo, c, spec.atr_period), dtype=np.float64)
    if spec.kind == "direction":
        label = direction_labels(c, atr, spec.horizon, spec.threshold_atr)
        label_end = np.where(label != UNUSABLE, np.arange(c.size) + spec.horizon, UNUSABLE)
    else:
        label, label_end = triple_barrier_labels(h, lo, c, atr, spec.horizon, spec.threshold_atr)
    return Labels(
        label=label,
        label_end=label_end.astype(np.int64),
        atr=atr,
        forward_volatility=forward_volatility(c, spec.horizon),
        forward_momentum=forward_momentum(c, atr, spec.horizon),
    )


def direction_labels(
    close: ArrayLike, atr: ArrayLike, horizon: int, threshold_atr: float
) -> IntArray:
    """UP/DOWN/FLAT by the forward log return over ``horizon`` bars against
    ``± threshold_atr * atr[t] / close[t]``; UNUSABLE without a full horizon or ATR."""
    _check_horizon(horizon)
    _check_threshold("direction", threshold_atr)
    c = _float_1d("close", close)
    a = _float_1d("atr", atr, c.size)
    out = np.full(c.size, UNUSABLE, dtype=np.int64)
    m = c.size - horizon
    if m <= 0:
        return out
    ret = np.log(c[horizon:] / c[:m])
    band = threshold_atr * a[:m] / c[:m]
    known = np.isfinite(ret) & np.isfinite(band)
    label = np.where(ret > band, UP, np.where(ret < -band, DOWN, FLAT))
    out[:m] = np.where(known, label, UNUSABLE)
    return out


def triple_barrier_labels(
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    atr: ArrayLike,
    horizon: int,
    threshold_atr: float,
) -> tuple[IntArray, IntArray]:
    """``(label, label_end)`` by the first barrier ``close[t] ± threshold_atr * atr[t]`` that
    the highs/lows of bars ``t+1 .. t+horizon`` reach (module docstring for ties); both are
    UNUSABLE (-1) without a full horizon or ATR."""
    _check_horizon(horizon)
    _check_threshold("triple_barrier", threshold_atr)
    c = _float_1d("close", close)
    h = _float_1d("high", high, c.size)
    lo = _float_1d("low", low, c.size)
    a = _float_1d("atr", atr, c.size)
    label = np.full(c.size, UNUSABLE, dtype=np.int64)
    label_end = np.full(c.size, UNUSABLE, dtype=np.int64)
    m = c.size - horizon
    if m <= 0:
        return label, label_end
    highs = sliding_window_view(h[1:], horizon)[:m]  # row t: bars t+1 .. t+horizon
    lows = sliding_window_view(lo[1:], horizon)[:m]
    width = threshold_atr * a[:m]
    up_hit = highs >= (c[:m] + width)[:, None]
    down_hit = lows <= (c[:m] - width)[:, None]
    first_up = np.where(up_hit.any(axis=1), up_hit.argmax(axis=1), horizon)
    first_down = np.where(down_hit.any(axis=1), down_hit.argmax(axis=1), horizon)
    first = np.minimum(first_up, first_down)  # offset - 1 of the touch bar; horizon: none
    row = np.arange(m)
    values = np.where(first_up < first_down, UP, np.where(first_down < first_up, DOWN, FLAT))
    ends = row + np.minimum(first + 1, horizon)
    known = np.isfinite(width) & np.isfinite(c[:m])
    label[:m] = np.where(known, values, UNUSABLE)
    label_end[:m] = np.where(known, ends, UNUSABLE)
    return label, label_end


def forward_volatility(close: ArrayLike, horizon: int) -> FloatArray:
    """``sqrt(mean(r[t+1 .. t+horizon] ** 2))`` of the log returns ``r``; NaN without a full
    horizon."""
    _check_horizon(horizon)
    squared = _squared_log_returns(_float_1d("close", close))
    out = np.full(squared.size, np.nan)
    m = squared.size - horizon
    if m > 0:
        sums = np.cumsum(np.concatenate([[0.0], squared[1:]]))  # sums[k] = sum r[1..k]^2
        out[:m] = np.sqrt((sums[horizon:] - sums[:m]) / horizon)
    return out


def past_volatility(close: ArrayLike, window: int) -> FloatArray:
    """``sqrt(mean(r[t-window+1 .. t] ** 2))``, known at ``t``: the naive forecast of
    ``forward_volatility``; NaN for the first ``window`` bars."""
    _check_horizon(window)
    squared = _squared_log_returns(_float_1d("close", close))
    out = np.full(squared.size, np.nan)
    if squared.size > window:
        sums = np.cumsum(np.concatenate([[0.0], squared[1:]]))
        out[window:] = np.sqrt((sums[window:] - sums[: sums.size - window]) / window)
    return out


def forward_momentum(close: ArrayLike, atr: ArrayLike, horizon: int) -> FloatArray:
    """``log(close[t+h] / close[t]) / (atr[t] / close[t])``: the forward move in ATR units;
    NaN without a full horizon or with an unknown or zero ATR."""
    _check_horizon(horizon)
    c = _float_1d("close", close)
    a = _float_1d("atr", atr, c.size)
    out = np.full(c.size, np.nan)
    m = c.size - horizon
    if m > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            moved = np.log(c[horizon:] / c[:m]) / (a[:m] / c[:m])
        out[:m] = np.where(a[:m] > 0.0, moved, np.nan)
    return out


def previous_direction(close: ArrayLike) -> IntArray:
    """DOWN/FLAT/UP by the sign of ``log(close[t] / close[t-1])`` (FLAT when unchanged),
    known at ``t``; UNUSABLE at ``t = 0`` or with a non-finite return."""
    c = _float_1d("close", close)
    out = np.full(c.size, UNUSABLE, dtype=np.int64)
    if c.size > 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            ret = np.log(c[1:] / c[:-1])
        sign = np.where(ret > 0.0, UP, np.where(ret < 0.0, DOWN, FLAT))
        out[1:] = np.where(np.isfinite(ret), sign, UNUSABLE)
    return out


def _squared_log_returns(c: FloatArray) -> FloatArray:
    squared = np.full(c.size, np.nan)
    if c.size > 1:
        squared[1:] = np.log(c[1:] / c[:-1]) ** 2
    return squared


def _float_1d(name: str, values: ArrayLike, size: int | None = None) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidMlInputError(f"expected {name} one-dimensional; received shape {arr.shape}")
    if size is not None and arr.size != size:
        raise InvalidMlInputError(
            f"expected {name} of length {size} like close; received {arr.size}"
        )
    return arr


def _check_horizon(horizon: int) -> None:
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise InvalidMlInputError(f"expected a horizon (bars) an int >= 1; received {horizon!r}")


def _check_threshold(kind: str, threshold_atr: float) -> None:
    value = float(threshold_atr)
    if kind == "triple_barrier" and not value > 0.0:
        raise InvalidMlInputError(
            f"expected threshold_atr > 0 for triple_barrier (a zero-width barrier is touched "
            f"by every bar); received {threshold_atr!r}"
        )
    if not (np.isfinite(value) and value >= 0.0):
        raise InvalidMlInputError(
            f"expected a finite threshold_atr >= 0; received {threshold_atr!r}"
        )
