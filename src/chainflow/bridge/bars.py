"""Incremental OHLCV bars from ticks, on the hot path: one builder per (symbol, timeframe).

Bars follow the batch contract of ``TimeSeriesStore.ohlcv`` so that the bars built here
equal the bars computed from the stored ticks: UTC-aligned buckets ``[open time, open time
+ width)``, bid prices, open = bid of the earliest tick by ``ts``, close = bid of the latest,
high/low = max/min bid, volume = sum of volumes, tick_count = number of ticks. Each bar also
carries spread statistics (spread = ask - bid) and the times of its first and last tick.

Rules the callers rely on:

- **Boundaries.** A tick at exactly the next bucket's open time belongs to the next bar.
- **Gaps.** No empty bars: a bucket without ticks has no bar. The first tick after a gap
  closes the open bar and opens the bar of its own bucket.
- **Closing.** A bar is closed (``BarClosed``) by the first tick of a later bucket, never by
  the clock, so an idle symbol keeps its last bar open (``open_bar`` shows it).
- **Late ticks** (``ts`` earlier than ticks already seen). Inside the open bar they update it
  fully: a tick earlier than the bar's first tick becomes the open, one at or after its last
  tick becomes the close. For an already closed bar the builder answers ``BarRevised`` with
  the corrected bar while it still holds that bar (the last ``closed_bars_kept`` closed bars);
  a late tick in an empty bucket between held bars creates that bar, also as ``BarRevised``.
  An older late tick is dropped and counted in ``late_ticks_dropped``: the store still holds
  the tick, and batch ``ohlcv`` over the stored ticks stays the source of truth.
- **Equal timestamps.** Among ticks with the same ``ts``, the first to arrive stays the open
  and the last to arrive becomes the close.
- **Sums.** Volume and spread sums are float sums in arrival order; they equal the batch sums
  exactly when the order does not matter (e.g. volumes that are multiples of 1/4).

Ticks are expected validated (finite prices, ``ask >= bid``) by the caller. The common path
(a tick inside the open bar) builds no objects and returns the shared empty tuple
``NO_BAR_EVENTS``. ``chainflow.bridge.bar_aggregator`` runs one builder per (symbol,
timeframe); ``chainflow.bridge.bar_table`` persists the bars.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeAlias

from chainflow.core.market import Bar, Tick, Timeframe
from chainflow.core.messages import Event

CLOSED_BARS_KEPT = 3
"""How many closed bars each builder keeps to revise with late ticks, by default."""

_NO_BUCKET = -(2**63)


@dataclass(frozen=True, slots=True)
class AggregatedBar(Bar):
    """A ``Bar`` built from ticks, with spread statistics and its first and last tick times.

    ``spread_sum / tick_count`` is the mean spread, and ``spread`` (the ``Bar``'s, which
    the feature engine reads) is that mean: NaN for a bar without ticks. Compare with a plain
    ``Bar`` through ``as_bar()``: dataclass equality requires the same class.
    """

    spread_min: float = 0.0
    spread_max: float = 0.0
    spread_sum: float = 0.0
    first_tick_ts: int = 0
    last_tick_ts: int = 0

    def __post_init__(self) -> None:
        if self.tick_count:  # frozen: the derived field is set once, here
            object.__setattr__(self, "spread", self.spread_sum / self.tick_count)

    @property
    def spread_mean(self) -> float:
        """Return the mean spread of the bar's ticks (NaN for a bar without ticks)."""
        return self.spread_sum / self.tick_count if self.tick_count else math.nan

    def as_bar(self) -> Bar:
        """Return the OHLCV part as a plain ``Bar``."""
        return Bar(
            self.symbol,
            self.timeframe,
            self.ts,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.tick_count,
            spread=self.spread,
        )


@dataclass(frozen=True, slots=True)
class BarClosed(Event):
    """A tick of a later bucket arrived, so ``bar`` is complete (unless a late tick revises it)."""

    bar: AggregatedBar


@dataclass(frozen=True, slots=True)
class BarRevised(Event):
    """A late tick changed the already closed ``bar``; it replaces the bar with the same key."""

    bar: AggregatedBar


BarEvent: TypeAlias = BarClosed | BarRevised
NO_BAR_EVENTS: tuple[BarEvent, ...] = ()


class BarBuilder:
    """Build the bars of one symbol in one timeframe, one tick at a time."""

    __slots__ = (
        "symbol",
        "timeframe",
        "closed_bars_kept",
        "late_ticks_dropped",
        "_width",
        "_bucket_start",
        "_bucket_end",
        "_open",
        "_high",
        "_low",
        "_close",
        "_volume",
        "_tick_count",
        "_spread_min",
        "_spread_max",
        "_spread_sum",
        "_first_ts",
        "_last_ts",
        "_closed",
    )

    def __init__(
        self, symbol: str, timeframe: Timeframe, *, closed_bars_kept: int = CLOSED_BARS_KEPT
    ) -> None:
        if closed_bars_kept < 0:
            raise ValueError(f"closed_bars_kept must be >= 0; received {closed_bars_kept}")
        self.symbol = symbol
        self.timeframe = timeframe
        self.closed_bars_kept = closed_bars_kept
        self.late_ticks_dropped = 0
        self._width = timeframe.milliseconds
        self._bucket_start = self._bucket_end = _NO_BUCKET
        self._open = self._high = self._low = self._close = self._volume = 0.0
        self._spread_min = self._spread_max = self._spread_sum = 0.0
        self._tick_count = self._first_ts = self._last_ts = 0
        self._closed: list[AggregatedBar] = []

    @property
    def open_bar(self) -> AggregatedBar | None:
        """Return the bar being built, or ``None`` before the first tick."""
        return self._snapshot() if self._tick_count else None

    @property
    def closed_bars(self) -> tuple[AggregatedBar, ...]:
        """Return the closed bars still held for revision, oldest first."""
        return tuple(self._closed)

    def update(self, tick: Tick) -> tuple[BarEvent, ...]:
        """Add ``tick``; return ``BarClosed`` or ``BarRevised`` events, usually none."""
        ts = tick.ts
        if self._bucket_start <= ts < self._bucket_end:
            bid = tick.bid
            if bid > self._high:
                self._high = bid
            elif bid < self._low:
                self._low = bid
            if ts >= self._last_ts:
                self._close = bid
                self._last_ts = ts
            elif ts < self._first_ts:
                self._open = bid
                self._first_ts = ts
            self._volume += tick.volume
            self._tick_count += 1
            spread = tick.ask - bid
            if spread < self._spread_min:
                self._spread_min = spread
            elif spread > self._spread_max:
                self._spread_max = spread
            self._spread_sum += spread
            return NO_BAR_EVENTS
        if ts >= self._bucket_end:
            return self._open_next_bar(tick)
        return self._revise_closed_bar(tick)

    def restore(self, bar: AggregatedBar) -> None:
        """Continue ``bar`` (an open bar persisted before a restart) as the open bar.

        Raise ``ValueError`` if the builder already holds a bar or ``bar`` belongs to
        another symbol or timeframe.
        """
        if bar.symbol != self.symbol or bar.timeframe != self.timeframe:
            raise ValueError(
                f"expected a bar of {self.symbol} {self.timeframe}; received one of "
                f"{bar.symbol} {bar.timeframe}"
            )
        if self._tick_count or self._closed:
            raise ValueError(
                f"expected an empty builder for {self.symbol} {self.timeframe}; it already "
                f"holds the bar at {self._bucket_start}"
            )
        self._bucket_start = bar.ts
        self._bucket_end = bar.ts + self._width
        self._open, self._high, self._low, self._close = bar.open, bar.high, bar.low, bar.close
        self._volume = bar.volume
        self._tick_count = bar.tick_count
        self._spread_min, self._spread_max = bar.spread_min, bar.spread_max
        self._spread_sum = bar.spread_sum
        self._first_ts, self._last_ts = bar.first_tick_ts, bar.last_tick_ts

    def _open_next_bar(self, tick: Tick) -> tuple[BarEvent, ...]:
        events = NO_BAR_EVENTS
        if self._tick_count:
            closed = self._snapshot()
            self._hold(len(self._closed), closed)
            events = (BarClosed(closed),)
        ts = tick.ts
        bid = tick.bid
        spread = tick.ask - bid
        self._bucket_start = ts - ts % self._width
        self._bucket_end = self._bucket_start + self._width
        self._open = self._high = self._low = self._close = bid
        self._volume = tick.volume
        self._tick_count = 1
        self._spread_min = self._spread_max = self._spread_sum = spread
        self._first_ts = self._last_ts = ts
        return events

    def _revise_closed_bar(self, tick: Tick) -> tuple[BarEvent, ...]:
        ts = tick.ts
        bucket = ts - ts % self._width
        closed = self._closed
        if not closed or bucket < closed[0].ts:
            self.late_ticks_dropped += 1
            return NO_BAR_EVENTS
        for index, bar in enumerate(closed):
            if bar.ts == bucket:
                revised = _add_tick(bar, tick)
                closed[index] = revised
                return (BarRevised(revised),)
            if bar.ts > bucket:
                created = _bar_of_tick(self.symbol, self.timeframe, bucket, tick)
                self._hold(index, created)
                return (BarRevised(created),)
        created = _bar_of_tick(self.symbol, self.timeframe, bucket, tick)
        self._hold(len(closed), created)
        return (BarRevised(created),)

    def _hold(self, index: int, bar: AggregatedBar) -> None:
        closed = self._closed
        closed.insert(index, bar)
        if len(closed) > self.closed_bars_kept:
            del closed[0]

    def _snapshot(self) -> AggregatedBar:
        return AggregatedBar(
            self.symbol,
            self.timeframe,
            self._bucket_start,
            self._open,
            self._high,
            self._low,
            self._close,
            self._volume,
            self._tick_count,
            self._spread_min,
            self._spread_max,
            self._spread_sum,
            self._first_ts,
            self._last_ts,
        )


def _bar_of_tick(symbol: str, timeframe: Timeframe, bucket: int, tick: Tick) -> AggregatedBar:
    spread = tick.ask - tick.bid
    bid = tick.bid
    return AggregatedBar(
        symbol,
        timeframe,
        bucket,
        bid,
        bid,
        bid,
        bid,
        tick.volume,
        1,
        spread,
        spread,
        spread,
        tick.ts,
        tick.ts,
    )


def _add_tick(bar: AggregatedBar, tick: Tick) -> AggregatedBar:
    ts, bid = tick.ts, tick.bid
    spread = tick.ask - bid
    is_first = ts < bar.first_tick_ts
    is_last = ts >= bar.last_tick_ts
    return AggregatedBar(
        bar.symbol,
        bar.timeframe,
        bar.ts,
        bid if is_first else bar.open,
        max(bar.high, bid),
        min(bar.low, bid),
        bid if is_last else bar.close,
        bar.volume + tick.volume,
        bar.tick_count + 1,
        min(bar.spread_min, spread),
        max(bar.spread_max, spread),
        bar.spread_sum + spread,
        ts if is_first else bar.first_tick_ts,
        ts if is_last else bar.last_tick_ts,
    )
