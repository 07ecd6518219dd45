"""Bars in, a supervised dataset out: past-only features, labels known later, time order.

``build_dataset(bars, feature_set, label_spec)`` computes the feature matrix of
``chainflow.features.api.feature_matrix`` (row ``t`` uses bars ``0 .. t`` only) and the labels
of ``chainflow.ml.labels`` (row ``t`` uses bars ``t+1 .. label_end``), then keeps the rows with
every feature finite and a usable label, in time order. Each row carries ``ts`` (its bar's
open time; features are known at that bar's close) and ``label_end_ts`` (the open time of
the bar at whose close the label became known), which ``chainflow.ml.splits`` purges on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.features.api import FeatureSet, feature_matrix
from chainflow.ml.labels import (
    CLASS_NAMES,
    UNUSABLE,
    LabelSpec,
    compute_labels,
    past_volatility,
    previous_direction,
)

__all__ = ["Bars", "Dataset", "build_dataset"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_PRICE_FIELDS = ("open", "high", "low", "close", "volume", "spread")


def _frozen(values: ArrayLike, dtype: type) -> NDArray[Any]:
    arr = np.array(values, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, slots=True, eq=False)
class Bars:
    """Bars of one symbol and timeframe as read-only arrays: ``ts`` (open time, epoch ms,
    strictly increasing), ``open``/``high``/``low``/``close``/``volume`` and ``spread`` (bar
    mean spread in price units, NaN where unknown). Build with ``from_arrays``."""

    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    spread: FloatArray

    def __post_init__(self) -> None:
        if self.ts.ndim != 1:
            raise ValueError(f"expected ts one-dimensional; received shape {self.ts.shape}")
        size = self.ts.size
        for name in _PRICE_FIELDS:
            arr = getattr(self, name)
            if arr.shape != (size,):
                raise ValueError(
                    f"expected {name} of shape ({size},) like ts; received {arr.shape}"
                )
        if size > 1 and not bool(np.all(self.ts[1:] > self.ts[:-1])):
            at = int(np.flatnonzero(self.ts[1:] <= self.ts[:-1])[0])
            raise ValueError(
                f"expected strictly increasing ts: a bar after {int(self.ts[at])} at index "
                f"{at + 1}; received {int(self.ts[at + 1])}"
            )

    @classmethod
    def from_arrays(
        cls,
        *,
        ts: ArrayLike,
        open: ArrayLike,  # noqa: A002 - the bar field's name
        high: ArrayLike,
        low: ArrayLike,
        close: ArrayLike,
        volume: ArrayLike,
        spread: ArrayLike | None = None,
    ) -> Bars:
        """Copy the columns into read-only arrays (``spread=None``: unknown everywhere)."""
        ts_arr = _frozen(ts, np.int64)
        size = ts_arr.size if ts_arr.ndim == 1 else 0
        spread_values = np.full(size, np.nan) if spread is None else spread
        return cls(
            ts=ts_arr,
            open=_frozen(open, np.float64),
            high=_frozen(high, np.float64),
            low=_frozen(low, np.float64),
            close=_frozen(close, np.float64),
            volume=_frozen(volume, np.float64),
            spread=_frozen(spread_values, np.float64),
        )

    def __len__(self) -> int:
        return int(self.ts.size)


@dataclass(frozen=True, slots=True, eq=False)
class Dataset:
    """Rows of a supervised dataset in time order (one row per kept bar).

    ``X`` (n, k) features known at the close of bar ``ts``; ``y`` the class (0 down, 1 flat,
    2 up); ``label_end_ts`` when the label is known; ``forward_volatility`` and
    ``forward_momentum`` regression targets; ``close`` the bar close; ``bar_index`` the row's
    index in the source bars. Baseline inputs known at ``ts`` (not features):
    ``previous_direction`` (class of the last bar's return) and ``past_volatility``
    (realized volatility over the last ``label_spec.horizon`` bars).
    """

    X: FloatArray
    y: IntArray
    ts: IntArray
    label_end_ts: IntArray
    forward_volatility: FloatArray
    forward_momentum: FloatArray
    close: FloatArray
    bar_index: IntArray
    previous_direction: IntArray
    past_volatility: FloatArray
    feature_names: tuple[str, ...]
    feature_set: str
    fingerprint: str
    label_spec: LabelSpec
    symbol: str = ""
    timeframe: str = ""
    source_bars: int = 0

    def __len__(self) -> int:
        return int(self.y.size)

    def class_counts(self) -> dict[str, int]:
        """Rows per class name, every class present (zero when absent)."""
        counts = np.bincount(self.y, minlength=len(CLASS_NAMES))
        return {name: int(counts[i]) for i, name in enumerate(CLASS_NAMES)}

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary for reports: size, time range, class balance, provenance."""
        counts = self.class_counts()
        rows = len(self)
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "rows": rows,
            "source_bars": self.source_bars,
            "features": len(self.feature_names),
            "first_ts": int(self.ts[0]) if rows else None,
            "last_ts": int(self.ts[-1]) if rows else None,
            "last_label_end_ts": int(self.label_end_ts.max()) if rows else None,
            "class_counts": counts,
            "class_share": {k: (v / rows if rows else float("nan")) for k, v in counts.items()},
            "feature_set": self.feature_set,
            "fingerprint": self.fingerprint,
            "label_spec": self.label_spec.to_dict(),
        }

    def window_tensor(self, window: int) -> tuple[FloatArray, IntArray]:
        """``(windows, rows)``: ``windows[j]`` is ``X[rows[j] - window + 1 .. rows[j]]``
        (shape ``(n', window, k)``), only for rows whose window spans consecutive bars (no
        dropped bar inside), so a sequence model sees the same past a live one would."""
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
            raise ValueError(f"expected window an int >= 1; received {window!r}")
        k = self.X.shape[1]
        if len(self) < window:
            return np.empty((0, window, k)), np.empty(0, dtype=np.int64)
        last = np.arange(window - 1, len(self), dtype=np.int64)
        spans = self.bar_index[last] - self.bar_index[last - window + 1]
        rows = last[spans == window - 1]
        windows = np.lib.stride_tricks.sliding_window_view(self.X, window, axis=0)
        # sliding_window_view puts the window last: (n - window + 1, k, window)
        selected = windows[rows - window + 1].transpose(0, 2, 1)
        return np.ascontiguousarray(selected, dtype=np.float64), rows

    def subset(self, rows: ArrayLike) -> Dataset:
        """The dataset restricted to ``rows`` (indices in increasing order), e.g. a fold."""
        index = np.asarray(rows, dtype=np.int64)
        if index.size > 1 and not bool(np.all(index[1:] > index[:-1])):
            raise ValueError("expected increasing row indices; received an unsorted selection")
        arrays = {
            name: getattr(self, name)[index]
            for name in (
                "X",
                "y",
                "ts",
                "label_end_ts",
                "forward_volatility",
                "forward_momentum",
                "close",
                "bar_index",
                "previous_direction",
                "past_volatility",
            )
        }
        return Dataset(
            **arrays,
            feature_names=self.feature_names,
            feature_set=self.feature_set,
            fingerprint=self.fingerprint,
            label_spec=self.label_spec,
            symbol=self.symbol,
            timeframe=self.timeframe,
            source_bars=self.source_bars,
        )


def build_dataset(
    bars: Bars,
    feature_set: FeatureSet,
    label_spec: LabelSpec,
    *,
    symbol: str = "",
    timeframe: str = "",
) -> Dataset:
    """Features, labels and targets of ``bars``; rows with a NaN feature (warm-up, unknown
    spread) or an unusable label (last ``horizon`` bars, ATR warm-up) are dropped. Raises
    ``ValueError`` when no row is left, naming the features that are never finite."""
    features = feature_matrix(
        feature_set,
        ts=bars.ts,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        volume=bars.volume,
        spread=bars.spread,
    )
    labels = compute_labels(label_spec, high=bars.high, low=bars.low, close=bars.close)
    keep = np.isfinite(features).all(axis=1) & (labels.label != UNUSABLE)
    rows = np.flatnonzero(keep)
    if rows.size == 0:
        raise ValueError(_empty_reason(features, feature_set, label_spec, len(bars)))
    label_end = labels.label_end[rows]
    return Dataset(
        X=np.ascontiguousarray(features[rows], dtype=np.float64),
        y=labels.label[rows].astype(np.int64),
        ts=bars.ts[rows].astype(np.int64),
        label_end_ts=bars.ts[label_end].astype(np.int64),
        forward_volatility=labels.forward_volatility[rows],
        forward_momentum=labels.forward_momentum[rows],
        close=np.asarray(bars.close[rows], dtype=np.float64),
        bar_index=rows.astype(np.int64),
        previous_direction=previous_direction(bars.close)[rows],
        past_volatility=past_volatility(bars.close, label_spec.horizon)[rows],
        feature_names=tuple(feature_set.names),
        feature_set=feature_set.key,
        fingerprint=feature_set.fingerprint,
        label_spec=label_spec,
        symbol=symbol,
        timeframe=timeframe,
        source_bars=len(bars),
    )


def _empty_reason(
    features: FloatArray, feature_set: FeatureSet, label_spec: LabelSpec, size: int
) -> str:
    never = [
        name
        for j, name in enumerate(feature_set.names)
        if not bool(np.isfinite(features[:, j]).any())
    ]
    hint = f"; features never finite: {never} (a spread feature needs a known spread)"
    needed = feature_set.warmup_bars + label_spec.horizon
    return (
        f"expected at least one row with finite features and a usable label (about "
        f"{needed} bars: warm-up {feature_set.warmup_bars} + horizon {label_spec.horizon}); "
        f"received none of {size} bars" + (hint if never else "")
    )
