"""``BarBuilder``: boundaries, gaps, late ticks, revisions, spread statistics, restore."""

from __future__ import annotations

import pytest

from chainflow.bridge.bars import (
    NO_BAR_EVENTS,
    AggregatedBar,
    BarBuilder,
    BarClosed,
    BarRevised,
)
from chainflow.core.market import Tick, Timeframe

SYMBOL = "EURUSD"
DAY_MS = Timeframe.D1.milliseconds
MINUTE_MS = Timeframe.M1.milliseconds
BASE_TS = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS  # a UTC midnight


def make_tick(ts: int, bid: float, *, spread: float = 0.0002, volume: float = 1.0) -> Tick:
    return Tick(symbol=SYMBOL, ts=ts, bid=bid, ask=bid + spread, volume=volume)


def spread_of(tick: Tick) -> float:
    return tick.ask - tick.bid


class TestBarBuilderUpdate:
    def test_first_tick_opens_bar_without_events(self) -> None:
        builder = BarBuilder(SYMBOL, Timeframe.M1)
        tick = make_tick(BASE_TS + 5, 1.1)

        events = builder.update(tick)

        assert events is NO_BAR_EVENTS
        spread = spread_of(tick)
        assert builder.open_bar == AggregatedBar(
            SYMBOL,
            Timeframe.M1,
            BASE_TS,
            1.1,
            1.1,
            1.1,
            1.1,
            1.0,
            1,
            spread,
            spread,
            spread,
            BASE_TS + 5,
            BASE_TS + 5,
        )

    def test_tick_at_bucket_start_belongs_to_the_new_bar(self) -> None:
        builder = BarBuilder(SYMBOL, Timeframe.M1)
        builder.update(make_tick(BASE_TS, 1.1))
        assert builder.update(make_tick(BASE_TS + MINUTE_MS - 1, 1.2)) is NO_BAR_EVENTS

        events = builder.update(make_tick(BASE_TS + MINUTE_MS, 1.3))

        assert len(events) == 1 and isinstance(events[0], BarClosed)
        closed = events[0].bar
        assert (closed.ts, closed.open, closed.close, closed.tick_count) == (BASE_TS, 1.1, 1.2, 2)
        open_bar = builder.open_bar
        assert open_bar is not None
        assert (open_bar.ts, open_bar.open, open_bar.tick_count) == (BASE_TS + MINUTE_MS, 1.3, 1)

    def test_gap_produces_no_empty_bars(self) -> None:
        builder = BarBuilder(SYMBOL, Timeframe.M1)
        builder.update(make_tick(BASE_TS + 10, 1.1))

        events = builder.update(make_tick(BASE_TS + 5 * MINUTE_MS + 10, 1.2))

        assert [event.bar.ts for event in events] == [BASE_TS]
        assert builder.open_bar is not None and builder.open_bar.ts == BASE_TS + 5 * MINUTE_MS
        assert [bar.ts for bar in builder.closed_bars] == [BASE_TS]

    def test_late_tick_earlier_than_first_becomes_the_open(self) -> None:
        builder = BarBuilder(SYMBOL, Timeframe.M1)
        builder.update(make_tick(BASE_TS + 10, 1.2))
        builder.update(make_tick(BASE_TS + 20, 1.3))

        events = builder.update(make_tick(BASE_TS + 5, 1.0, volume=0.5))

        assert events is NO_BAR_EVENTS
        bar = builder.open_bar
        assert bar is not None
        assert (bar.open, bar.high, bar.low, bar.close) == (1.0, 1.3, 1.0, 1.3)
        assert (bar.first_tick_ts, bar.last_tick_ts, bar.tick_count, bar.volume) == (
            BASE_TS + 5,
            BASE_TS + 20,
            3,
            2.5,
        )

    def test_late_tick_inside_the_bar_keeps_open_and_close(self) -> None:
        builder = BarBuilder(SYMBOL, Timeframe.M1)
        builder.update(make_tick(BASE_TS + 10, 1.2))
        builder.update(make_tick(BASE_TS + 30, 1.3))

        builder.update(make_tick(BASE_TS + 20, 1.5))

        bar = builder.open_bar
        assert bar is not None
        assert (bar.open, bar.high, bar.low, bar.close, bar.tick_count) == (1.2, 1.5, 1.2, 1.3, 3)

    def test_equal_ts_keeps_first_arrival_as_open_and_last_as_close(self) -> None:
        builder = BarBuilder(SYMBOL, Timeframe.M1)
        for bid in (1.1, 1.2, 1.3):
            builder.update(make_tick(BASE_TS + 7, bid))

        bar = builder.open_bar
        assert bar is not None
        assert (bar.open, bar.close) == (1.1, 1.3)

    def test_spread_statistics_track_ask_minus_bid(self) -> None:
        builder = BarBuilder(SYMBOL, Timeframe.M1)
        for offset, spread in enumerate((0.5, 0.25, 1.0)):
            builder.update(make_tick(BASE_TS + offset, 1.0, spread=spread))

        bar = builder.open_bar
        assert bar is not None
        assert (bar.spread_min, bar.spread_max, bar.spread_sum) == (0.25, 1.0, 1.75)
        assert bar.spread_mean == pytest.approx(1.75 / 3, rel=1e-15)

    def test_late_tick_for_held_closed_bar_emits_revision(self) -> None:
        builder = BarBuilder(SYMBOL, Timeframe.M1)
        builder.update(make_tick(BASE_TS + 10, 1.2))
        builder.update(make_tick(BASE_TS + 20, 1.3))
        (closed,) = builder.update(make_tick(BASE_TS + MINUTE_MS, 1.4))
        late = make_tick(BASE_TS + 5, 1.0, volume=0.5, spread=0.5)

        events = builder.update(late)

        assert events == (
            BarRevised(
                AggregatedBar(
                    SYMBOL,
                    Timeframe.M1,
                    BASE_TS,
                    1.0,
                    1.3,
                    1.0,
                    1.3,
                    2.5,
                    3,
                    closed.bar.spread_min,
                    spread_of(late),
                    closed.bar.spread_sum + spread_of(late),
                    BASE_TS + 5,
                    BASE_TS + 20,
                )
            ),
        )
        assert builder.closed_bars == (events[0].bar,)
        assert builder.open_bar is not None and builder.open_bar.tick_count == 1

    def test_late_tick_after_last_tick_of_closed_bar_becomes_its_close(self) -> None:
        builder = BarBuilder(SYMBOL, Timeframe.M1)
        builder.update(make_tick(BASE_TS + 10, 1.2))
        builder.update(make_tick(BASE_TS + MINUTE_MS, 1.4))

        (event,) = builder.update(make_tick(BASE_TS + MINUTE_MS - 1, 1.25))

        assert (event.bar.open, event.bar.close, event.bar.last_tick_ts) == (
            1.2,
            1.25,
            BASE_TS + MINUTE_MS - 1,
        )

    def test_late_tick_in_empty_bucket_between_held_bars_creates_the_bar(self) -> None:
        builder = BarBuilder(SYMBOL, Timeframe.M1)
        for minute in (0, 2, 4):
            builder.update(make_tick(BASE_TS + minute * MINUTE_MS, 1.1))

        (event,) = builder.update(make_tick(BASE_TS + MINUTE_MS + 9, 1.0))

        assert isinstance(event, BarRevised)
        assert (event.bar.ts, event.bar.open, event.bar.tick_count) == (BASE_TS + MINUTE_MS, 1.0, 1)
        assert [bar.ts for bar in builder.closed_bars] == [
            BASE_TS,
            BASE_TS + MINUTE_MS,
            BASE_TS + 2 * MINUTE_MS,
        ]

    def test_late_tick_older_than_held_bars_is_dropped_and_counted(self) -> None:
        builder = BarBuilder(SYMBOL, Timeframe.M1, closed_bars_kept=2)
        for minute in range(5):
            builder.update(make_tick(BASE_TS + minute * MINUTE_MS, 1.1))

        events = builder.update(make_tick(BASE_TS + MINUTE_MS + 1, 1.0))

        assert events is NO_BAR_EVENTS
        assert builder.late_ticks_dropped == 1
        assert [bar.ts for bar in builder.closed_bars] == [
            BASE_TS + 2 * MINUTE_MS,
            BASE_TS + 3 * MINUTE_MS,
        ]

    def test_zero_closed_bars_kept_drops_every_late_tick_for_a_closed_bar(self) -> None:
        builder = BarBuilder(SYMBOL, Timeframe.M1, closed_bars_kept=0)
        builder.update(make_tick(BASE_TS, 1.1))
        builder.update(make_tick(BASE_TS + MINUTE_MS, 1.1))

        assert builder.update(make_tick(BASE_TS + 1, 1.0)) is NO_BAR_EVENTS
        assert builder.late_ticks_dropped == 1 and builder.closed_bars == ()


class TestBarBuilderRestore:
    def test_restored_bar_continues_as_if_never_interrupted(self) -> None:
        ticks = [make_tick(BASE_TS + offset, 1.1 + offset * 1e-5) for offset in range(0, 60, 7)]
        uninterrupted = BarBuilder(SYMBOL, Timeframe.M1)
        for tick in ticks:
            uninterrupted.update(tick)
        before = BarBuilder(SYMBOL, Timeframe.M1)
        for tick in ticks[:4]:
            before.update(tick)
        assert before.open_bar is not None

        after = BarBuilder(SYMBOL, Timeframe.M1)
        after.restore(before.open_bar)
        for tick in ticks[4:]:
            after.update(tick)

        assert after.open_bar == uninterrupted.open_bar

    def test_restore_into_a_used_builder_raises(self) -> None:
        builder = BarBuilder(SYMBOL, Timeframe.M1)
        builder.update(make_tick(BASE_TS, 1.1))
        assert builder.open_bar is not None

        with pytest.raises(ValueError, match="expected an empty builder"):
            builder.restore(builder.open_bar)

    def test_restore_of_another_timeframe_raises(self) -> None:
        source = BarBuilder(SYMBOL, Timeframe.M5)
        source.update(make_tick(BASE_TS, 1.1))
        assert source.open_bar is not None

        with pytest.raises(ValueError, match="expected a bar of EURUSD M1"):
            BarBuilder(SYMBOL, Timeframe.M1).restore(source.open_bar)


class TestBarSpread:
    def test_a_bar_from_ticks_carries_its_mean_spread_as_the_bars_spread(self) -> None:
        builder = BarBuilder(SYMBOL, Timeframe.M1)
        ticks = [make_tick(BASE_TS + i, 1.1, spread=0.0001 * (i + 1)) for i in range(3)]
        for tick in ticks:
            builder.update(tick)
        (closed,) = builder.update(make_tick(BASE_TS + MINUTE_MS, 1.1))
        assert isinstance(closed, BarClosed)
        bar = closed.bar
        assert bar.spread == bar.spread_mean == pytest.approx(0.0002)
        assert bar.as_bar().spread == bar.spread  # the plain Bar keeps it

    def test_a_bar_without_ticks_has_an_unknown_spread(self) -> None:
        bar = AggregatedBar(SYMBOL, Timeframe.M1, BASE_TS, 1.1, 1.1, 1.1, 1.1, 0.0, 0)
        assert bar.spread != bar.spread  # NaN
