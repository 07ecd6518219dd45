"""Bars of every timeframe for every symbol of one tenant's tick stream, on the hot path.

One ``BarBuilder`` per (symbol, timeframe), created on the symbol's first tick; the rules
(boundaries, gaps, late ticks, revisions) are those of ``chainflow.bridge.bars``. One
aggregator serves one tenant; the service that owns the tenant's stream owns it.
"""

from __future__ import annotations

from collections.abc import Iterable

from chainflow.bridge.bars import (
    CLOSED_BARS_KEPT,
    NO_BAR_EVENTS,
    AggregatedBar,
    BarBuilder,
    BarEvent,
)
from chainflow.core.market import Tick, Timeframe

ALL_TIMEFRAMES: tuple[Timeframe, ...] = tuple(Timeframe)


class MultiTimeframeAggregator:
    """Build the bars of several timeframes for every symbol of one tenant's tick stream.

    Builders are created on a symbol's first tick, one per configured timeframe. The events
    of one tick come in timeframe order, shortest first.
    """

    __slots__ = ("timeframes", "closed_bars_kept", "_builders_by_symbol")

    def __init__(
        self,
        timeframes: Iterable[Timeframe] = ALL_TIMEFRAMES,
        *,
        closed_bars_kept: int = CLOSED_BARS_KEPT,
    ) -> None:
        chosen = tuple(sorted(set(timeframes), key=lambda t: t.milliseconds))
        if not chosen:
            raise ValueError("expected at least one timeframe; received none")
        if closed_bars_kept < 0:
            raise ValueError(f"closed_bars_kept must be >= 0; received {closed_bars_kept}")
        self.timeframes = chosen
        self.closed_bars_kept = closed_bars_kept
        self._builders_by_symbol: dict[str, tuple[BarBuilder, ...]] = {}

    @property
    def symbols(self) -> tuple[str, ...]:
        """Return the symbols seen so far, in order of first tick."""
        return tuple(self._builders_by_symbol)

    @property
    def late_ticks_dropped(self) -> int:
        """Return how many (tick, timeframe) updates were dropped as too late to revise."""
        return sum(
            builder.late_ticks_dropped
            for builders in self._builders_by_symbol.values()
            for builder in builders
        )

    def add_symbol(self, symbol: str) -> tuple[BarBuilder, ...]:
        """Return the builders of ``symbol``, creating empty ones if it is new."""
        return self._builders_by_symbol.get(symbol) or self._add_symbol(symbol)

    def on_tick(self, tick: Tick) -> tuple[BarEvent, ...]:
        """Add ``tick`` to every timeframe of its symbol; return the bar events it caused."""
        builders = self._builders_by_symbol.get(tick.symbol)
        if builders is None:
            builders = self._add_symbol(tick.symbol)
        events = NO_BAR_EVENTS
        for builder in builders:
            produced = builder.update(tick)
            if produced:
                events += produced
        return events

    def builders(self, symbol: str) -> tuple[BarBuilder, ...]:
        """Return the builders of ``symbol``, shortest timeframe first (empty if unseen)."""
        return self._builders_by_symbol.get(symbol, ())

    def open_bars(self, symbol: str) -> list[AggregatedBar]:
        """Return the bars of ``symbol`` being built, shortest timeframe first."""
        bars = (builder.open_bar for builder in self._builders_by_symbol.get(symbol, ()))
        return [bar for bar in bars if bar is not None]

    def flush(self) -> list[AggregatedBar]:
        """Return every open bar of every symbol, to persist at shutdown.

        The builders keep their bars: ticks that follow still update them. After a restart,
        ``restore`` the persisted bars so that they continue instead of starting over.
        """
        return [bar for symbol in self._builders_by_symbol for bar in self.open_bars(symbol)]

    def restore(self, bars: Iterable[AggregatedBar]) -> int:
        """Continue ``bars`` (from ``flush`` before a restart) as open bars; return how many.

        Bars of timeframes this aggregator does not build are skipped. Raise ``ValueError``
        if a builder already holds a bar.
        """
        restored = 0
        for bar in bars:
            if bar.timeframe not in self.timeframes:
                continue
            builders = self._builders_by_symbol.get(bar.symbol)
            if builders is None:
                builders = self._add_symbol(bar.symbol)
            builders[self.timeframes.index(bar.timeframe)].restore(bar)
            restored += 1
        return restored

    def _add_symbol(self, symbol: str) -> tuple[BarBuilder, ...]:
        builders = tuple(
            BarBuilder(symbol, timeframe, closed_bars_kept=self.closed_bars_kept)
            for timeframe in self.timeframes
        )
        self._builders_by_symbol[symbol] = builders
        return builders
