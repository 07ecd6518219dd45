"""``MultiTimeframeAggregator``: equality with batch ``ohlcv``, revisions, no lookahead."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

import pytest

from chainflow.bridge.bar_aggregator import ALL_TIMEFRAMES, MultiTimeframeAggregator
from chainflow.bridge.bars import AggregatedBar, BarClosed, BarEvent, BarRevised
from chainflow.core.ids import TenantId
from chainflow.core.market import Tick, Timeframe
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.timeseries import open_timeseries

TENANT = TenantId("tenant-bars")
SYMBOL = "EURUSD"
DAY_MS = Timeframe.D1.milliseconds
MINUTE_MS = Timeframe.M1.milliseconds
BASE_TS = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS  # a UTC midnight


def make_tick(ts: int, bid: float, *, spread: float = 0.0002, volume: float = 1.0) -> Tick:
    return Tick(symbol=SYMBOL, ts=ts, bid=bid, ask=bid + spread, volume=volume)


FAR_END = 2**62
# Volumes are multiples of 1/4, so any summation order gives the exact same float.
VOLUMES = (0.25, 0.5, 1.0, 1.5, 2.0, 3.75)

BarKey = tuple[Timeframe, int]


def make_random_walk_ticks(count: int, *, seed: int, max_step_ms: int = 5_000) -> list[Tick]:
    """Return ``count`` ticks with distinct, increasing ts: a bid random walk with gaps.

    Steps are mostly up to ``max_step_ms``; some are minutes to hours or days (gaps, empty
    buckets), and some land exactly on the next M1 or H1 bucket start (boundaries).
    """
    rng = random.Random(seed)
    ts = BASE_TS + 1_234
    bid = 1.1
    ticks: list[Tick] = []
    for _ in range(count):
        draw = rng.random()
        if draw < 0.0006:
            ts += rng.randint(DAY_MS // 2, 2 * DAY_MS)
        elif draw < 0.006:
            ts += rng.randint(MINUTE_MS, 4 * 3_600_000)
        elif draw < 0.016:
            ts = Timeframe.M1.bucket_start_ms(ts) + MINUTE_MS
        elif draw < 0.018:
            ts = Timeframe.H1.bucket_start_ms(ts) + Timeframe.H1.milliseconds
        else:
            ts += rng.randint(1, max_step_ms)
        bid = round(bid + rng.gauss(0.0, 5e-5), 5)
        spread = rng.choice((1, 2, 3, 5, 8)) * 1e-5
        ticks.append(make_tick(ts, bid, spread=spread, volume=rng.choice(VOLUMES)))
    return ticks


def shuffle_within_buckets(ticks: Sequence[Tick], timeframe: Timeframe, seed: int) -> list[Tick]:
    """Return ``ticks`` (in time order) with each ``timeframe`` bucket's ticks shuffled."""
    rng = random.Random(seed)
    groups: dict[int, list[Tick]] = {}
    for tick in ticks:
        groups.setdefault(timeframe.bucket_start_ms(tick.ts), []).append(tick)
    arrival: list[Tick] = []
    for bucket in sorted(groups):
        group = groups[bucket]
        rng.shuffle(group)
        arrival.extend(group)
    return arrival


def delay_some_ticks(
    ticks: Sequence[Tick], *, share: float, max_delay: int, seed: int
) -> list[Tick]:
    """Return ``ticks`` with a ``share`` of them arriving up to ``max_delay`` positions late."""
    rng = random.Random(seed)
    keyed = [
        (index + (rng.randint(1, max_delay) if rng.random() < share else 0), index, tick)
        for index, tick in enumerate(ticks)
    ]
    return [tick for _, _, tick in sorted(keyed)]


def final_bars(
    aggregator: MultiTimeframeAggregator, ticks: Iterable[Tick]
) -> dict[BarKey, AggregatedBar]:
    """Feed ``ticks``; return every bar by key: closed, revised, then the still open ones."""
    bars: dict[BarKey, AggregatedBar] = {}
    for tick in ticks:
        for event in aggregator.on_tick(tick):
            bars[(event.bar.timeframe, event.bar.ts)] = event.bar
    for bar in aggregator.flush():
        bars[(bar.timeframe, bar.ts)] = bar
    return bars


def bars_of(bars: dict[BarKey, AggregatedBar], timeframe: Timeframe) -> list[AggregatedBar]:
    return [bars[key] for key in sorted(bars) if key[0] is timeframe]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TimeSeriesStore]:
    settings = TimeSeriesSettings(batch_max_rows=5000, batch_max_delay_ms=2.0)
    opened = open_timeseries(f"duckdb://{tmp_path}/bars.duckdb", settings)
    await opened.start()
    yield opened
    await opened.close()


class TestMultiTimeframeAggregatorOnTick:
    @pytest.mark.parametrize(
        "shuffled_within",
        [None, Timeframe.M1, Timeframe.H1],
        ids=["in_order", "shuffled_within_m1", "shuffled_within_h1"],
    )
    async def test_bars_equal_batch_ohlcv(
        self, store: TimeSeriesStore, shuffled_within: Timeframe | None
    ) -> None:
        ticks = make_random_walk_ticks(4_000, seed=11)
        arrival = (
            ticks
            if shuffled_within is None
            else shuffle_within_buckets(ticks, shuffled_within, seed=5)
        )
        await store.append_ticks(TENANT, arrival)
        aggregator = MultiTimeframeAggregator()

        bars = final_bars(aggregator, arrival)

        # Late ticks stay inside the open bar of every timeframe at least as wide as the
        # shuffle's bucket; narrower timeframes see them as late for closed bars.
        width = 0 if shuffled_within is None else shuffled_within.milliseconds
        compared = [tf for tf in ALL_TIMEFRAMES if tf.milliseconds >= width]
        for timeframe in compared:
            expected = await store.ohlcv(TENANT, SYMBOL, timeframe, 0, FAR_END)
            assert [bar.as_bar() for bar in bars_of(bars, timeframe)] == expected, timeframe
        assert len(bars_of(bars, Timeframe.D1)) >= 3
        if shuffled_within is not Timeframe.H1:
            assert aggregator.late_ticks_dropped == 0

    async def test_revisions_bring_bars_back_to_batch_ohlcv(self, store: TimeSeriesStore) -> None:
        # Sparse ticks, so that some delayed ticks are alone in their bucket (gap bars).
        ticks = make_random_walk_ticks(3_000, seed=23, max_step_ms=60_000)
        arrival = delay_some_ticks(ticks, share=0.05, max_delay=30, seed=3)
        await store.append_ticks(TENANT, arrival)
        aggregator = MultiTimeframeAggregator(closed_bars_kept=10_000)
        revisions = [event for tick in arrival for event in aggregator.on_tick(tick)]
        revisions = [event for event in revisions if isinstance(event, BarRevised)]
        aggregator = MultiTimeframeAggregator(closed_bars_kept=10_000)

        bars = final_bars(aggregator, arrival)

        assert aggregator.late_ticks_dropped == 0
        assert any(event.bar.tick_count == 1 for event in revisions)  # a created gap bar
        assert {event.bar.timeframe for event in revisions} >= {Timeframe.M1, Timeframe.M5}
        for timeframe in ALL_TIMEFRAMES:
            expected = await store.ohlcv(TENANT, SYMBOL, timeframe, 0, FAR_END)
            assert [bar.as_bar() for bar in bars_of(bars, timeframe)] == expected, timeframe

    def test_spread_and_tick_times_match_each_bucket(self) -> None:
        ticks = make_random_walk_ticks(2_000, seed=31)
        arrival = shuffle_within_buckets(ticks, Timeframe.M1, seed=8)

        bars = final_bars(MultiTimeframeAggregator(), arrival)

        for timeframe in ALL_TIMEFRAMES:
            groups: dict[int, list[Tick]] = {}
            for tick in ticks:
                groups.setdefault(timeframe.bucket_start_ms(tick.ts), []).append(tick)
            for bucket, group in groups.items():
                bar = bars[(timeframe, bucket)]
                spreads = [tick.ask - tick.bid for tick in group]
                assert (bar.spread_min, bar.spread_max) == (min(spreads), max(spreads))
                assert math.isclose(bar.spread_sum, math.fsum(spreads), rel_tol=1e-12)
                assert (bar.first_tick_ts, bar.last_tick_ts) == (group[0].ts, group[-1].ts)

    def test_tick_crossing_a_day_closes_every_timeframe_shortest_first(self) -> None:
        aggregator = MultiTimeframeAggregator()
        aggregator.on_tick(make_tick(BASE_TS + 1, 1.1))

        events = aggregator.on_tick(make_tick(BASE_TS + DAY_MS, 1.2))

        assert [type(event) for event in events] == [BarClosed] * 7
        assert [event.bar.timeframe for event in events] == list(ALL_TIMEFRAMES)
        assert {event.bar.ts for event in events} == {BASE_TS}

    def test_symbols_are_built_independently(self) -> None:
        aggregator = MultiTimeframeAggregator([Timeframe.M1])
        aggregator.on_tick(Tick("EURUSD", BASE_TS, 1.1, 1.1002, 1.0))
        aggregator.on_tick(Tick("GBPUSD", BASE_TS + 1, 1.3, 1.3002, 1.0))

        events = aggregator.on_tick(Tick("EURUSD", BASE_TS + MINUTE_MS, 1.2, 1.2002, 1.0))

        assert [event.bar.symbol for event in events] == ["EURUSD"]
        assert aggregator.symbols == ("EURUSD", "GBPUSD")
        assert [bar.open for bar in aggregator.open_bars("GBPUSD")] == [1.3]

    def test_closed_bars_use_no_tick_after_their_end(self) -> None:
        arrival = delay_some_ticks(
            make_random_walk_ticks(3_000, seed=41), share=0.03, max_delay=50, seed=2
        )
        aggregator = MultiTimeframeAggregator()

        for index, tick in enumerate(arrival):
            for event in aggregator.on_tick(tick):
                bar = event.bar
                end = bar.ts + bar.timeframe.milliseconds
                assert bar.ts <= bar.first_tick_ts <= bar.last_tick_ts < end
                seen = arrival[: index + 1]
                in_bucket = [t for t in seen if bar.ts <= t.ts < end]
                assert bar.tick_count <= len(in_bucket)
                if isinstance(event, BarClosed):
                    assert tick.ts >= end

    def test_prefix_emits_the_same_events_as_the_full_stream(self) -> None:
        """No lookahead: events up to tick *n* do not depend on the ticks after *n*."""
        arrival = delay_some_ticks(
            make_random_walk_ticks(3_000, seed=53), share=0.05, max_delay=100, seed=4
        )
        full = MultiTimeframeAggregator()
        full_events: list[tuple[int, BarEvent]] = [
            (index, event) for index, tick in enumerate(arrival) for event in full.on_tick(tick)
        ]
        assert any(isinstance(event, BarRevised) for _, event in full_events)

        for cut in (1, 137, 1_000, 1_999, 2_500):
            prefix = MultiTimeframeAggregator()
            prefix_events = [event for tick in arrival[:cut] for event in prefix.on_tick(tick)]

            assert prefix_events == [event for index, event in full_events if index < cut]


class TestMultiTimeframeAggregatorState:
    def test_open_bars_lists_each_timeframe_shortest_first(self) -> None:
        aggregator = MultiTimeframeAggregator([Timeframe.H1, Timeframe.M1, Timeframe.H1])
        aggregator.on_tick(make_tick(BASE_TS + 1, 1.1))

        bars = aggregator.open_bars(SYMBOL)

        assert aggregator.timeframes == (Timeframe.M1, Timeframe.H1)
        assert [(bar.timeframe, bar.ts) for bar in bars] == [
            (Timeframe.M1, BASE_TS),
            (Timeframe.H1, BASE_TS),
        ]
        assert aggregator.open_bars("UNSEEN") == []

    def test_flush_returns_open_bars_and_keeps_building_them(self) -> None:
        aggregator = MultiTimeframeAggregator([Timeframe.M1])
        aggregator.on_tick(make_tick(BASE_TS + 1, 1.1))

        flushed = aggregator.flush()
        aggregator.on_tick(make_tick(BASE_TS + 2, 1.2))

        assert [bar.tick_count for bar in flushed] == [1]
        assert [bar.tick_count for bar in aggregator.flush()] == [2]

    def test_restore_of_flushed_bars_continues_every_timeframe(self) -> None:
        ticks = make_random_walk_ticks(1_500, seed=61)
        uninterrupted = final_bars(MultiTimeframeAggregator(), ticks)
        before = MultiTimeframeAggregator()
        closed_before = final_bars(before, ticks[:700])

        after = MultiTimeframeAggregator()
        assert after.restore(before.flush()) == 7
        resumed = {**closed_before, **final_bars(after, ticks[700:])}

        assert resumed == uninterrupted

    def test_no_timeframes_raises(self) -> None:
        with pytest.raises(ValueError, match="at least one timeframe"):
            MultiTimeframeAggregator([])
