"""Bars in, a supervised dataset out: past-only features, labels known later, time order.

``build_dataset(bars, feature_set, label_spec)`` computes the feature matrix of
``chainflow.features.api.feature_matrix`` (row ``t`` uses bars ``0 .. t`` only) and the
labels of ``chainflow.ml.training.labels`` (row ``t`` uses bars ``t+1 .. label_end``), then
keeps the rows with every feature finite and a usable label, in time order. Each row carries
``ts`` (its bar's open time; features are known at that bar's close) and ``label_end_ts``
(the open time of the bar at whose close the label became known), which
``chainflow.ml.training.splits`` purges on.

Bars whose spread is zero on every bar (a file without spread, filled with 0 by
``steps.training_bars``) carry no spread information: the spread-derived features
(``SPREAD_KINDS``) are dropped from the dataset's ``feature_names`` rather than left as a
constant input a neural network still multiplies by its untrained weights. ``input_names``
keeps the feature set's full vector (what serving builds); the bundle selects its columns.

A dataset may also hold *forming-bar snapshot* rows (``chainflow.ml.training.forming_snapshots``):
rows of bar ``t`` computed on the bar as it was part-way through, with bar ``t``'s label.
``forming_fraction`` is 1.0 on the closed-bar rows and the snapshot's fraction on the
others; all rows of one bar share ``bar_index``, ``ts`` and ``label_end_ts``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.core.market import BarSeries
from chainflow.features.api import FeatureSet, feature_matrix
from chainflow.ml.errors import InsufficientDataError, InvalidMlInputError
from chainflow.ml.training.labels import (
    CLASS_NAMES,
    UNUSABLE,
    LabelSpec,
    compute_labels,
    past_volatility,
    previous_direction,
)

__all__ = ["SPREAD_KINDS", "Dataset", "build_dataset", "spread_is_dead"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

SPREAD_KINDS = frozenset({"rel_spread_bps"})  # feature kinds computed from the bar spread
_ROW_FIELDS = (
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
    "forming_fraction",
)


@dataclass(frozen=True, slots=True, eq=False)
class Dataset:
    """Rows of a supervised dataset in time order (one row per kept bar).

    ``X`` (n, k) features known at the close of bar ``ts``; ``y`` the class (0 down, 1 flat,
    2 up); ``label_end_ts`` when the label is known; ``forward_volatility`` and
    ``forward_momentum`` regression targets; ``close`` the bar close; ``bar_index`` the row's
    index in the source bars. Baseline inputs known at ``ts`` (not features):
    ``previous_direction`` (class of the last bar's return) and ``past_volatility``
    (realized volatility over the last ``label_spec.horizon`` bars). ``forming_fraction``
    is 1.0 for a closed-bar row, the fraction of the bar seen for a snapshot row.
    ``input_names`` is the vector serving builds (the feature set's names); ``X`` holds its
    columns ``feature_names`` (fewer when dead spread inputs were dropped).
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
    forming_fraction: FloatArray
    feature_names: tuple[str, ...]
    feature_set: str
    fingerprint: str
    label_spec: LabelSpec
    symbol: str = ""
    timeframe: str = ""
    source_bars: int = 0
    input_names: tuple[str, ...] = ()
    forming_fractions: tuple[float, ...] = ()

    def __len__(self) -> int:
        return int(self.y.size)

    @property
    def served_names(self) -> tuple[str, ...]:
        """The names of the vector serving builds (``feature_names`` when none dropped)."""
        return self.input_names or self.feature_names

    @property
    def dropped_features(self) -> tuple[str, ...]:
        kept = set(self.feature_names)
        return tuple(name for name in self.served_names if name not in kept)

    @property
    def closed_rows(self) -> IntArray:
        """Indices of the closed-bar rows (every row when there are no snapshots)."""
        return np.flatnonzero(self.forming_fraction == 1.0).astype(np.int64)

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
            "closed_rows": int(self.closed_rows.size),
            "forming_fractions": list(self.forming_fractions),
            "dropped_features": list(self.dropped_features),
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
        """``(windows, rows)``: ``windows[j]`` ends with ``X[rows[j]]`` after the closed-bar
        rows of the ``window - 1`` bars before it (shape ``(n', window, k)``), only for rows
        whose window spans consecutive bars (no dropped bar inside), so a sequence model
        sees the same past a live one would (closed vectors, then the newest, forming or
        closed)."""
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
            raise InvalidMlInputError(f"expected window an int >= 1; received {window!r}")
        k = self.X.shape[1]
        closed = self.closed_rows
        # the closed row of each bar, by bar index (-1 where that bar has none)
        closed_of = np.full(int(self.bar_index.max(initial=-1)) + 1, -1, dtype=np.int64)
        closed_of[self.bar_index[closed]] = closed
        offsets = np.arange(1 - window, 0, dtype=np.int64)
        bars = self.bar_index[:, np.newaxis] + offsets  # (n, window - 1) earlier bars
        inside = bars >= 0
        earlier = np.where(inside, closed_of[np.where(inside, bars, 0)], -1)
        rows = np.flatnonzero((earlier >= 0).all(axis=1)).astype(np.int64)
        if rows.size == 0:
            return np.empty((0, window, k)), rows
        picked = np.concatenate([earlier[rows], rows[:, np.newaxis]], axis=1)
        return np.ascontiguousarray(self.X[picked], dtype=np.float64), rows

    def subset(self, rows: ArrayLike) -> Dataset:
        """The dataset restricted to ``rows`` (indices in increasing order), e.g. a fold."""
        index = np.asarray(rows, dtype=np.int64)
        if index.size > 1 and not bool(np.all(index[1:] > index[:-1])):
            raise ValueError("expected increasing row indices; received an unsorted selection")
        arrays = {name: getattr(self, name)[index] for name in _ROW_FIELDS}
        return replace(self, **arrays)

    def without_features(self, names: Iterable[str]) -> Dataset:
        """The dataset without the columns ``names`` (``input_names`` keeps the served
        vector, so a bundle trained on it can select its columns from what live builds)."""
        drop = set(names)
        keep = [j for j, name in enumerate(self.feature_names) if name not in drop]
        if not keep:
            raise InvalidMlInputError(f"expected a feature left after dropping {sorted(drop)}")
        return replace(
            self,
            X=np.ascontiguousarray(self.X[:, keep]),
            feature_names=tuple(self.feature_names[j] for j in keep),
            input_names=self.served_names,
        )

    def with_rows(self, rows: dict[str, NDArray[Any]], fractions: tuple[float, ...]) -> Dataset:
        """A dataset of the arrays ``rows`` (every row field) with this one's metadata."""
        row_fields: dict[str, Any] = {name: rows[name] for name in _ROW_FIELDS}
        return replace(self, **row_fields, forming_fractions=fractions)


def spread_is_dead(spread: FloatArray) -> bool:
    """Whether ``spread`` carries no information: known on some bar and zero where known."""
    known = spread[np.isfinite(spread)]
    return bool(known.size) and not bool(np.any(known != 0.0))


def build_dataset(
    bars: BarSeries,
    feature_set: FeatureSet,
    label_spec: LabelSpec,
    *,
    symbol: str = "",
    timeframe: str = "",
) -> Dataset:
    """Features, labels and targets of ``bars``; rows with a NaN feature (warm-up, unknown
    spread) or an unusable label (last ``horizon`` bars, ATR warm-up) are dropped. Raises
    ``ValueError`` when no row is left, naming the features that are never finite. Bars
    whose spread is zero wherever known (``spread_is_dead``) lose the spread features."""
    features = feature_matrix(feature_set, bars)
    labels = compute_labels(label_spec, high=bars.high, low=bars.low, close=bars.close)
    keep = np.isfinite(features).all(axis=1) & (labels.label != UNUSABLE)
    rows = np.flatnonzero(keep)
    if rows.size == 0:
        raise InsufficientDataError(_empty_reason(features, feature_set, label_spec, len(bars)))
    label_end = labels.label_end[rows]
    dataset = Dataset(
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
        forming_fraction=np.ones(rows.size),
        feature_names=tuple(feature_set.names),
        feature_set=feature_set.key,
        fingerprint=feature_set.fingerprint,
        label_spec=label_spec,
        symbol=symbol,
        timeframe=timeframe,
        source_bars=len(bars),
    )
    if not spread_is_dead(bars.spread):
        return dataset
    return dataset.without_features(f.name for f in feature_set.features if f.kind in SPREAD_KINDS)


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
