"""Forming-bar snapshots: train on the vectors the per-tick path scores.

The tick hot path (``trading.tick.scoring``) scores the *forming* bar: the committed
features previewed on the bar as its ticks have built it so far (``FeatureEngine.preview``).
A model trained only on closed bars sees such vectors for the first time live. This module
adds, for each bar of a dataset, rows computed on that bar as it was after a fraction of
its ticks (or of its M1 sub-bars when training on a higher timeframe), labelled with the
bar's own label:

- **The live maths.** One ``FeatureEngine`` walks the bars: before bar ``t`` is committed
  (``update``) each of its partial bars is previewed, so a snapshot row *is* what the live
  path computes for that partial bar (same engine, same state, same preview).
- **The partial bar.** At fraction ``f`` the first ``k = max(1, floor(f * n))`` of the bar's
  ``n`` ticks or sub-bars: open of the first, highest high, lowest low, close of the k-th,
  summed volume, mean spread weighted by ticks (as ``trading.tick.state.FormingBar``
  builds it). ``f = 0`` is the first tick (or first sub-bar). A snapshot that would hold
  every tick (``k = n``) is the closed bar and is not added.
- **No look-ahead.** A snapshot row keeps its bar's ``ts``, ``label_end_ts`` and label: the
  label's horizon starts at the bar's close, as for the closed row, and the features use
  only the part of the bar before the snapshot.
- **One CV group per bar.** All rows of a bar share ``bar_index``; the walk-forward folds
  (``run_parts.walk_forward_folds``) are cut on the closed rows and each fold trains on
  every row of its training bars and tests on closed rows only, so the purge, the embargo
  (in bars) and every out-of-sample score are those of the closed-bar run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.core.errors import InvalidInput
from chainflow.core.market import BarRow, BarSeries, Timeframe
from chainflow.features.api import FeatureEngine, get_feature_set
from chainflow.ml.training.datasets import Dataset

if TYPE_CHECKING:
    from chainflow.bridge.api import AggregatedBar

__all__ = [
    "DEFAULT_FRACTIONS",
    "SubBars",
    "aggregate",
    "parse_fractions",
    "partial_bar",
    "snapshot_fractions",
    "snapshot_vectors",
    "with_forming_snapshots",
]

DEFAULT_FRACTIONS = (0.25, 0.5, 0.75)
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class SubBars:
    """What a bar is built from, in time order: ticks (open = high = low = close = bid,
    spread = ask - bid, weight 1) or sub-bars such as M1 (``weight`` = tick count, so the
    weighted mean spread is the mean over ticks). ``spread`` NaN where unknown."""

    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    spread: FloatArray
    weight: FloatArray

    def __post_init__(self) -> None:
        if self.ts.size > 1 and not bool(np.all(self.ts[1:] >= self.ts[:-1])):
            raise InvalidInput("expected ticks or sub-bars in time order")

    @classmethod
    def from_ticks(
        cls, *, ts: ArrayLike, bid: ArrayLike, ask: ArrayLike, volume: ArrayLike
    ) -> SubBars:
        """Ticks as the bridge accepts them (bid-based bars, spread ``ask - bid``)."""
        bids = np.asarray(bid, dtype=np.float64)
        return cls(
            ts=np.asarray(ts, dtype=np.int64),
            open=bids,
            high=bids,
            low=bids,
            close=bids,
            volume=np.asarray(volume, dtype=np.float64),
            spread=np.asarray(ask, dtype=np.float64) - bids,
            weight=np.ones(bids.size),
        )

    @classmethod
    def from_bars(cls, bars: BarSeries, tick_count: ArrayLike | None = None) -> SubBars:
        """Sub-bars (e.g. M1) from training arrays; ``tick_count`` weighs their spreads."""
        weight = np.ones(len(bars)) if tick_count is None else np.asarray(tick_count, float)
        return cls(
            ts=bars.ts,
            open=bars.open,
            high=bars.high,
            low=bars.low,
            close=bars.close,
            volume=bars.volume,
            spread=bars.spread,
            weight=np.where(weight > 0, weight, 1.0),
        )

    @classmethod
    def from_aggregated(cls, bars: Sequence[AggregatedBar]) -> SubBars:
        """Sub-bars as read from a bar file or the store (``bridge.api.AggregatedBar``)."""
        return cls.from_bars(
            BarSeries.from_arrays(
                ts=[b.ts for b in bars],
                open=[b.open for b in bars],
                high=[b.high for b in bars],
                low=[b.low for b in bars],
                close=[b.close for b in bars],
                volume=[b.volume for b in bars],
                spread=[b.spread_mean for b in bars],
            ),
            [b.tick_count for b in bars],
        )


def aggregate(sub: SubBars, bar_ms: int) -> tuple[BarSeries, FloatArray]:
    """Bars of ``bar_ms`` built from ``sub`` as the forming bar is (``partial_bar`` of all
    of a bucket's rows), with each bar's weight (its tick count): M1 bars from ticks, or
    the training bars whose snapshots ``sub`` gives."""
    bucket = sub.ts - sub.ts % bar_ms
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]]) if sub.ts.size else sub.ts
    ends = np.r_[starts[1:], sub.ts.size].astype(np.int64)
    known = np.isfinite(sub.spread)
    weighted = np.add.reduceat(np.where(known, sub.spread * sub.weight, 0.0), starts)
    weights = np.add.reduceat(np.where(known, sub.weight, 0.0), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.where(weights > 0, weighted / weights, np.nan)
    bars = BarSeries.from_arrays(
        ts=bucket[starts],
        open=sub.open[starts],
        high=np.maximum.reduceat(sub.high, starts),
        low=np.minimum.reduceat(sub.low, starts),
        close=sub.close[ends - 1],
        volume=np.add.reduceat(sub.volume, starts),
        spread=spread,
    )
    return bars, np.add.reduceat(sub.weight, starts)


def parse_fractions(text: str | Sequence[float]) -> tuple[float, ...]:
    """``"0.25,0.5,0.75"`` (or numbers) as sorted unique fractions in [0, 1)."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        values = sorted({float(p) for p in parts if str(p).strip()})
    except ValueError:
        raise InvalidInput(
            f"expected --forming-snapshots as fractions like 0.25,0.5,0.75; received {text!r}"
        ) from None
    if not values or not all(0.0 <= v < 1.0 for v in values):
        raise InvalidInput(
            f"expected --forming-snapshots fractions in [0, 1) (0 = first tick); received {text!r}"
        )
    return tuple(values)


def snapshot_fractions(
    text: str | None, timeframe: Timeframe, m1_file: object | None, email: str | None
) -> tuple[float, ...]:
    """``chainflow train --forming-snapshots``: the fractions, checked before any bar is
    read (no option: none). The sub-bars are M1 bars, from ``--forming-data`` or stored."""
    if text is None:
        return ()
    if timeframe == Timeframe.M1 or (m1_file is None and email is None):
        raise InvalidInput(
            "expected --forming-snapshots with a --timeframe above M1 and --forming-data "
            "FILE (M1 bars) or --email USER (the tenant's stored M1 bars)"
        )
    return parse_fractions(text)


def partial_bar(sub: SubBars, start: int, count: int, ts: int) -> BarRow:
    """The bar opened at ``ts`` as built by ``sub[start : start + count]``."""
    part = slice(start, start + count)
    spreads, weights = sub.spread[part], sub.weight[part]
    known = np.isfinite(spreads)
    spread = (
        float(np.dot(spreads[known], weights[known]) / weights[known].sum())
        if known.any()
        else math.nan
    )
    return BarRow(
        ts=ts,
        open=float(sub.open[start]),
        high=float(sub.high[part].max()),
        low=float(sub.low[part].min()),
        close=float(sub.close[start + count - 1]),
        volume=float(sub.volume[part].sum()),
        spread=spread,
    )


def snapshot_vectors(
    bars: BarSeries, sub: SubBars, fractions: Sequence[float], feature_set_key: str
) -> tuple[IntArray, FloatArray, FloatArray]:
    """``(bar_index, fraction, vectors)`` of every snapshot of ``bars`` (time order, the
    feature set's full vector), computed by one streaming engine as live computes them."""
    span = int(np.median(np.diff(bars.ts))) if len(bars) > 1 else 0
    starts = np.searchsorted(sub.ts, bars.ts, side="left")
    ends = np.searchsorted(sub.ts, bars.ts + span, side="left") if span else starts
    engine = FeatureEngine(get_feature_set(feature_set_key))
    index: list[int] = []
    taken: list[float] = []
    vectors: list[FloatArray] = []
    for t in range(len(bars)):
        start, n = int(starts[t]), int(ends[t] - starts[t])
        counts = {f: max(1, math.floor(f * n + 1e-9)) for f in fractions}
        for fraction, count in counts.items():
            if count >= n:
                continue  # the whole bar: that is the closed row
            vectors.append(engine.preview(partial_bar(sub, start, count, int(bars.ts[t]))))
            index.append(t)
            taken.append(fraction)
        engine.update(_closed(bars, t))
    k = len(engine.names)
    stacked = np.array(vectors, dtype=np.float64).reshape(len(vectors), k)
    return np.array(index, dtype=np.int64), np.array(taken, dtype=np.float64), stacked


def with_forming_snapshots(
    dataset: Dataset, bars: BarSeries, sub: SubBars, fractions: Sequence[float]
) -> Dataset:
    """``dataset`` (built from ``bars``, closed rows only) with the snapshot rows of its
    bars at ``fractions`` of their ``sub`` ticks/sub-bars, each bar's rows together (the
    snapshots in fraction order, then the closed row). Snapshots of bars without a row in
    ``dataset`` and snapshots with a non-finite feature are left out."""
    if not bool(np.all(dataset.forming_fraction == 1.0)):
        raise ValueError("expected a dataset of closed-bar rows; it has snapshots already")
    fractions = parse_fractions(list(fractions))
    bar_of, taken, vectors = snapshot_vectors(bars, sub, fractions, dataset.feature_set)
    columns = [dataset.served_names.index(name) for name in dataset.feature_names]
    vectors = vectors[:, columns]
    row_of_bar = np.full(len(bars), -1, dtype=np.int64)
    row_of_bar[dataset.bar_index] = np.arange(len(dataset), dtype=np.int64)
    rows = row_of_bar[bar_of]
    keep = (rows >= 0) & np.isfinite(vectors).all(axis=1)
    rows, taken, vectors = rows[keep], taken[keep], vectors[keep]
    # each row's source closed row, closed rows sorting after their snapshots
    source = np.concatenate([rows, np.arange(len(dataset), dtype=np.int64)])
    fraction = np.concatenate([taken, np.ones(len(dataset))])
    order = np.lexsort((fraction, source))
    source, fraction = source[order], fraction[order]
    X = np.concatenate([vectors, dataset.X])[order]
    arrays = {
        name: getattr(dataset, name)[source]
        for name in (
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
    arrays["X"] = np.ascontiguousarray(X, dtype=np.float64)
    arrays["forming_fraction"] = fraction
    return dataset.with_rows(arrays, fractions)


def _closed(bars: BarSeries, t: int) -> BarRow:
    return BarRow(
        ts=int(bars.ts[t]),
        open=float(bars.open[t]),
        high=float(bars.high[t]),
        low=float(bars.low[t]),
        close=float(bars.close[t]),
        volume=float(bars.volume[t]),
        spread=float(bars.spread[t]),
    )
