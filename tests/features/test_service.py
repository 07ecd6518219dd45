"""The features service on the embedded store and the in-process bus: bars in, vectors out.

Proves: the published/stored vector of each bar equals the batch feature matrix; a service
started after a crash rebuilds the same state from the stored bars; a revised bar recomputes
the bars after it; a bad message is terminated and counted.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from chainflow.bridge.bar_table import persist_bars
from chainflow.bridge.bars import AggregatedBar
from chainflow.bridge.events import (
    BarPublished,
    SymbolsDeclared,
    bars_topic,
    symbols_declared_topic,
)
from chainflow.core.clock import WallClock
from chainflow.core.ids import TenantId
from chainflow.core.market import BarSeries, Timeframe
from chainflow.core.settings import BusSettings, FeaturesSettings, TimeSeriesSettings
from chainflow.features.cross_asset import aligned_log_returns, correlation_matrix
from chainflow.features.events import correlation_topic, features_topic
from chainflow.features.feature_table import read_latest_vector
from chainflow.features.matrix import feature_matrix
from chainflow.features.pipeline import PipelineOutput
from chainflow.features.service import FeaturesService
from chainflow.features.sets import get_feature_set
from chainflow.hub.api import BusMessage, EventBus
from chainflow.hub.bus import open_bus
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.timeseries import open_timeseries
from tests.fixtures.market_data import OHLCV, make_ohlcv

TENANT = TenantId("0190a5c0-0000-7000-8000-00000000feed")
SYMBOL = "EURUSD"
TF = Timeframe.M5


def aggregated(data: OHLCV, index: int, close: float | None = None) -> AggregatedBar:
    c = float(data.close[index]) if close is None else close
    high = max(float(data.high[index]), c)
    low = min(float(data.low[index]), c)
    return AggregatedBar(
        SYMBOL,
        TF,
        int(data.ts_ms[index]),
        float(data.open[index]),
        high,
        low,
        c,
        float(data.volume[index]),
        10,
        0.00008,
        0.00016,
        0.0012,
        int(data.ts_ms[index]),
        int(data.ts_ms[index]) + 299_000,
    )


def published(bar: AggregatedBar, *, revised: bool = False) -> BarPublished:
    return BarPublished(
        TENANT,
        bar.symbol,
        bar.timeframe.value,
        bar.ts,
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
        bar.tick_count,
        bar.spread_mean,
        revised=revised,
    )


def batch_rows(bars: list[AggregatedBar]) -> np.ndarray:
    service_set = get_feature_set("fx-core@1")
    col = lambda name: np.array([getattr(b, name) for b in bars], dtype=float)  # noqa: E731
    return feature_matrix(
        service_set,
        BarSeries.from_arrays(
            ts=np.array([b.ts for b in bars], dtype=np.int64),
            open=col("open"),
            high=col("high"),
            low=col("low"),
            close=col("close"),
            volume=col("volume"),
            spread=np.array([b.spread_mean for b in bars]),
        ),
    )


def assert_vectors_equal(got: Any, want: Any) -> None:
    got_arr = np.array([math.nan if v is None else v for v in got], dtype=float)
    want_arr = np.asarray(want, dtype=float)
    assert np.array_equal(np.isnan(got_arr), np.isnan(want_arr))
    finite = ~np.isnan(want_arr)
    np.testing.assert_allclose(got_arr[finite], want_arr[finite], rtol=1e-9, atol=1e-12)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TimeSeriesStore]:
    opened = open_timeseries(f"duckdb://{tmp_path}/ts.duckdb", TimeSeriesSettings())
    await opened.start()
    yield opened
    await opened.close()


@pytest.fixture
async def bus() -> AsyncIterator[EventBus]:
    opened = open_bus(BusSettings(url="memory://"))
    await opened.start()
    yield opened
    await opened.close()


def make_service(store: TimeSeriesStore, bus: EventBus, **overrides: Any) -> FeaturesService:
    settings = FeaturesSettings(**{"replay_bars": 3000, **overrides})
    return FeaturesService(bus=bus, store=store, clock=WallClock(), settings=settings)


async def feed(service: FeaturesService, store: TimeSeriesStore, bars: list[AggregatedBar]) -> None:
    """What the bridge does: store the bars, then publish them (here: call the handler)."""
    await persist_bars(store, TENANT, bars)
    for bar in bars:
        await service.on_bar(published(bar))


async def feed_one(
    service: FeaturesService, store: TimeSeriesStore, bar: AggregatedBar
) -> list[PipelineOutput]:
    await persist_bars(store, TENANT, [bar])
    return await service.on_bar(published(bar))


class ScanCounter:
    """The real store, counting its scans (what a first bar used to cost per symbol)."""

    def __init__(self, inner: TimeSeriesStore) -> None:
        self.inner = inner
        self.scans = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def scan_columns(self, *args: Any, **kwargs: Any) -> Any:
        self.scans += 1
        return await self.inner.scan_columns(*args, **kwargs)


class TestLiveVectors:
    async def test_bus_bars_give_stored_and_published_vectors_equal_to_batch(
        self, store: TimeSeriesStore, bus: EventBus
    ) -> None:
        data = make_ohlcv(400, seed=11)
        bars = [aggregated(data, i) for i in range(400)]
        service = make_service(store, bus)
        await service.start()
        received: list[dict[str, Any]] = []

        async def collect(message: BusMessage) -> None:
            received.append(json.loads(message.data))

        await bus.subscribe(features_topic(TENANT, SYMBOL, TF.value), collect)
        await persist_bars(store, TENANT, bars)
        for bar in bars:
            await bus.publish(bars_topic(TENANT, SYMBOL, TF), published(bar).to_json())
        for _ in range(6000):  # up to 60 s on a loaded CI machine; usually about 2 s
            if len(received) == len(bars):
                break
            await asyncio.sleep(0.01)
        await service.stop()

        want = batch_rows(bars)
        assert [r["ts"] for r in received] == [b.ts for b in bars]
        for row, message in zip(want, received, strict=True):
            assert_vectors_equal(message["values"], row)
        assert received[-1]["feature_set"] == service.feature_set.key
        assert received[-1]["names"] == list(service.feature_set.names)
        latest = await read_latest_vector(store, TENANT, SYMBOL, TF.value, service.feature_set)
        assert latest is not None and latest.ts == bars[-1].ts
        assert_vectors_equal(latest.values, want[-1])
        assert service.stats.rebuilds == 1  # only the first bar of the key

    async def test_history_in_the_store_warms_the_first_live_vector(
        self, store: TimeSeriesStore, bus: EventBus
    ) -> None:
        data = make_ohlcv(300, seed=12)
        bars = [aggregated(data, i) for i in range(300)]
        await persist_bars(store, TENANT, bars[:-1])  # e.g. imported history
        service = make_service(store, bus)

        await feed(service, store, bars[-1:])

        latest = await read_latest_vector(store, TENANT, SYMBOL, TF.value, service.feature_set)
        assert latest is not None
        assert_vectors_equal(latest.values, batch_rows(bars)[-1])
        assert not any(math.isnan(v) for v in latest.values)
        assert service.stats.replayed_bars == 299


class TestRestart:
    async def test_a_new_process_rebuilds_identical_state(
        self, store: TimeSeriesStore, bus: EventBus
    ) -> None:
        data = make_ohlcv(700, seed=13)
        bars = [aggregated(data, i) for i in range(700)]
        before = make_service(store, bus)
        await feed(before, store, bars[:650])
        after = make_service(store, bus)  # the crashed process's state is gone

        await feed(after, store, bars[650:])
        await feed(before, store, bars[650:])  # the process that never crashed

        live = before.pipeline(TENANT, SYMBOL, TF)
        rebuilt = after.pipeline(TENANT, SYMBOL, TF)
        assert live is not None and rebuilt is not None
        assert json.dumps(rebuilt.snapshot(), sort_keys=True) == json.dumps(
            live.snapshot(), sort_keys=True
        )
        assert after.stats.rebuilds == 1 and after.stats.replayed_bars == 650


async def revised_vectors(bus: EventBus) -> list[dict[str, Any]]:
    """Collect the ``revised`` feature vectors published on the bus from now on."""
    seen: list[dict[str, Any]] = []

    async def on_message(message: BusMessage) -> None:
        event = json.loads(message.data)
        if event.get("revised"):
            seen.append(event)

    await bus.subscribe(features_topic(TENANT, SYMBOL, TF.value), on_message)
    return seen


async def settled(service: FeaturesService, want: int) -> None:
    for _ in range(500):
        if (
            service._deferred.rebuilt >= want
            and service._deferred.pending((TENANT, SYMBOL, TF)) is None
        ):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {want} deferred rebuilds; saw {service._deferred.rebuilt}")


class TestRevisions:
    async def test_revised_bar_recomputes_it_and_the_bars_after(
        self, store: TimeSeriesStore, bus: EventBus
    ) -> None:
        data = make_ohlcv(300, seed=14)
        bars = [aggregated(data, i) for i in range(300)]
        service = make_service(store, bus)
        await feed(service, store, bars)
        published_again = await revised_vectors(bus)
        corrected = aggregated(data, 297, close=float(data.close[297]) * 1.001)

        await persist_bars(store, TENANT, [corrected])
        assert await service.on_bar(published(corrected, revised=True)) == []  # a moment later
        await settled(service, 1)

        fixed = [*bars[:297], corrected, *bars[298:]]
        assert [e["ts"] for e in published_again] == [b.ts for b in bars[297:]]
        want = batch_rows(fixed)
        for event, row in zip(published_again, want[297:], strict=True):
            assert_vectors_equal(event["values"], row)
        latest = await read_latest_vector(store, TENANT, SYMBOL, TF.value, service.feature_set)
        assert latest is not None
        assert_vectors_equal(latest.values, want[-1])

    async def test_a_burst_of_revisions_is_one_rebuild_and_new_bars_keep_flowing(
        self, store: TimeSeriesStore, bus: EventBus
    ) -> None:
        data = make_ohlcv(320, seed=15)
        bars = [aggregated(data, i) for i in range(300)]
        service = make_service(store, bus)
        await feed(service, store, bars)
        rebuilds = service.stats.rebuilds
        fixed = list(bars)
        for step in range(12):  # late ticks revising the last three closed bars, repeatedly
            index = 297 + step % 3
            fixed[index] = aggregated(data, index, close=float(data.close[index]) * (1.0005))
            await persist_bars(store, TENANT, [fixed[index]])
            await service.on_bar(published(fixed[index], revised=True))
        later = [aggregated(data, i) for i in range(300, 305)]  # new bars meanwhile
        await feed(service, store, later)
        await settled(service, 1)

        assert service.stats.rebuilds == rebuilds + 1
        # the last bar (every third) is redone from its undo; the older ones wait
        assert (service.stats.deferred_revisions, service.stats.redone_bars) == (8, 4)
        live = service.pipeline(TENANT, SYMBOL, TF)
        assert live is not None and live.last_ts == later[-1].ts
        rebuilt = make_service(store, bus)
        await rebuilt.on_bar(published(later[-1]))
        again = rebuilt.pipeline(TENANT, SYMBOL, TF)
        assert again is not None
        assert json.dumps(live.snapshot(), sort_keys=True) == json.dumps(
            again.snapshot(), sort_keys=True
        )


class TestWarm:
    async def test_a_declared_symbol_is_built_before_its_first_bar_then_continues_cheaply(
        self, store: TimeSeriesStore, bus: EventBus
    ) -> None:
        data = make_ohlcv(320, seed=21)
        bars = [aggregated(data, i) for i in range(320)]
        await persist_bars(store, TENANT, bars[:300])
        service = make_service(store, bus)
        await service.start()  # subscribes to the terminals' hellos
        declared = SymbolsDeclared(TENANT, "conn", (SYMBOL,), 0)
        await bus.publish(symbols_declared_topic(TENANT), declared.to_json())
        for _ in range(500):
            if service.pipeline(TENANT, SYMBOL, TF) is not None:
                break
            await asyncio.sleep(0.01)
        await service.stop()
        warm = service.pipeline(TENANT, SYMBOL, TF)
        assert warm is not None and warm.last_ts == bars[299].ts
        assert service.stats.rebuilds == 1
        # The bridge closes the last stored bar again (it continues it), then new bars.
        await service.on_bar(published(bars[299]))
        await feed(service, store, bars[300:])
        assert (service.stats.rebuilds, service.stats.redone_bars) == (1, 1)
        reference = make_service(store, bus)
        await reference.on_bar(published(bars[-1]))
        again = reference.pipeline(TENANT, SYMBOL, TF)
        live = service.pipeline(TENANT, SYMBOL, TF)
        assert live is not None and again is not None
        assert json.dumps(live.snapshot(), sort_keys=True) == json.dumps(
            again.snapshot(), sort_keys=True
        )

    async def test_a_symbol_without_stored_bars_starts_empty_and_its_bars_are_no_rebuild(
        self, store: TimeSeriesStore, bus: EventBus
    ) -> None:
        """Nothing stored (a timeframe the history lacks): its first bar is applied as it
        comes, not a rebuild reading the stores for nothing; the vectors are the batch's."""
        data = make_ohlcv(260, seed=22)
        bars = [aggregated(data, i) for i in range(260)]
        service = make_service(store, bus)
        assert await service.warm(TENANT, [SYMBOL]) == 0
        empty = service.pipeline(TENANT, SYMBOL, TF)
        assert empty is not None and empty.last_ts is None

        outputs = [out for bar in bars for out in await feed_one(service, store, bar)]

        assert (service.stats.rebuilds, service.stats.replayed_bars) == (0, 0)
        want = batch_rows(bars)
        for out, row in zip(outputs, want, strict=True):
            assert_vectors_equal(out.values.tolist(), row)

    async def test_bars_imported_after_the_warm_are_taken_at_the_next_bar(
        self, store: TimeSeriesStore, bus: EventBus
    ) -> None:
        """A terminal declared the symbol before its history was imported: the import says
        so (``history_changed``) and the next bar rebuilds from the stores, history included."""
        data = make_ohlcv(300, seed=23)
        bars = [aggregated(data, i) for i in range(300)]
        service = make_service(store, bus)
        await service.warm(TENANT, [SYMBOL])
        await persist_bars(store, TENANT, bars[:-1])  # chainflow import
        await service.history_changed(TENANT, SYMBOL)
        assert service.pipeline(TENANT, SYMBOL, TF) is None

        (out,) = await feed_one(service, store, bars[-1])

        assert_vectors_equal(out.values.tolist(), batch_rows(bars)[-1])
        assert (service.stats.rebuilds, service.stats.replayed_bars) == (1, 299)


class TestLastBarAgain:
    async def test_revised_last_bar_is_redone_from_the_state_before_it(
        self, store: TimeSeriesStore, bus: EventBus
    ) -> None:
        data = make_ohlcv(300, seed=17)
        bars = [aggregated(data, i) for i in range(300)]
        service = make_service(store, bus)
        await feed(service, store, bars)
        corrected = aggregated(data, 299, close=float(data.close[299]) * 0.999)
        await persist_bars(store, TENANT, [corrected])

        (output,) = await service.on_bar(published(corrected, revised=True))
        (again,) = await service.on_bar(published(corrected, revised=True))  # redelivered

        want = batch_rows([*bars[:299], corrected])[-1]
        assert_vectors_equal(output.values.tolist(), want)
        assert_vectors_equal(again.values.tolist(), want)
        assert (service.stats.rebuilds, service.stats.redone_bars) == (1, 2)
        rebuilt = make_service(store, bus)
        await rebuilt.on_bar(published(corrected, revised=True))
        live = service.pipeline(TENANT, SYMBOL, TF)
        assert live is not None
        assert json.dumps(live.snapshot(), sort_keys=True) == json.dumps(
            rebuilt.pipeline(TENANT, SYMBOL, TF).snapshot(),
            sort_keys=True,  # type: ignore[union-attr]
        )


class TestBadInput:
    async def test_bad_message_is_terminated_and_counted(
        self, store: TimeSeriesStore, bus: EventBus
    ) -> None:
        service = make_service(store, bus)
        settled: list[str] = []

        class Message:
            subject = "bridge.bars.x"
            data = b"{not json"
            headers: dict[str, str] = {}
            delivery_count = 1

            async def ack(self) -> None:
                settled.append("ack")

            async def nak(self, delay_s: float | None = None) -> None:
                settled.append("nak")

            async def term(self) -> None:
                settled.append("term")

        await service.on_message(Message())

        assert settled == ["term"] and service.stats.rejected_messages == 1

    async def test_timeframes_not_enabled_are_ignored(
        self, store: TimeSeriesStore, bus: EventBus
    ) -> None:
        service = make_service(store, bus, timeframes=["H1"])
        data = make_ohlcv(5, seed=15)
        await feed(service, store, [aggregated(data, 0)])
        assert service.stats.bars == 0

    async def test_bar_with_inconsistent_prices_is_rejected_and_state_kept(
        self, store: TimeSeriesStore, bus: EventBus
    ) -> None:
        data = make_ohlcv(50, seed=16)
        bars = [aggregated(data, i) for i in range(50)]
        service = make_service(store, bus)
        await feed(service, store, bars[:49])
        bad = AggregatedBar(SYMBOL, TF, bars[49].ts, 1.1, 1.0, 1.2, 1.1, 1.0, 1)  # high < low
        before = service.pipeline(TENANT, SYMBOL, TF)
        assert before is not None
        snapshot = json.dumps(before.snapshot(), sort_keys=True)

        assert await service.on_bar(published(bad)) == []

        assert service.stats.rejected_bars == 1
        assert json.dumps(before.snapshot(), sort_keys=True) == snapshot
        assert (await service.on_bar(published(bars[49])))[0].ts == bars[49].ts


class TestLiveCorrelation:
    async def test_correlation_events_match_batch_and_new_symbols_rebuild(
        self, store: TimeSeriesStore, bus: EventBus
    ) -> None:
        service = make_service(store, bus, correlation_window=20)
        events: list[dict[str, Any]] = []

        async def collect(message: BusMessage) -> None:
            events.append(json.loads(message.data))

        await bus.subscribe(correlation_topic(TENANT, TF.value), collect)
        series = two_series()

        def bar_of(symbol: str, i: int) -> AggregatedBar:
            return series_bar(series, symbol, i)

        for i in range(40):  # EURUSD alone for a while: no matrix yet
            await feed(service, store, [bar_of("EURUSD", i)])
        assert events == []
        for i in range(60):  # USDJPY joins with history: rebuilt, then live row by row
            await feed(service, store, [bar_of("USDJPY", i)])
            if i >= 40:
                await feed(service, store, [bar_of("EURUSD", i)])
        for _ in range(100):
            if events and events[-1]["ts"] == int(series["EURUSD"].ts_ms[59]):
                break
            await asyncio.sleep(0.01)

        assert_matches_batch(events[-1], series)
        assert service.stats.correlation_updates == len(events) >= 20

    async def test_a_hello_builds_the_tracker_and_the_first_bars_read_no_store(
        self, store: TimeSeriesStore, bus: EventBus
    ) -> None:
        """The declared symbols' tracker is built with their pipelines, from the bars the
        warm read anyway: their first live bars are row updates, not a store read each."""
        counting = ScanCounter(store)
        service = make_service(
            cast(TimeSeriesStore, counting), bus, correlation_window=20, timeframes=[TF.value]
        )
        series = two_series()
        await persist_bars(
            store, TENANT, [series_bar(series, s, i) for s in series for i in range(40)]
        )
        assert await service.warm(TENANT, list(series)) == 2
        read_by_warm = counting.scans
        events: list[dict[str, Any]] = []

        async def collect(message: BusMessage) -> None:
            events.append(json.loads(message.data))

        await bus.subscribe(correlation_topic(TENANT, TF.value), collect)
        for i in range(40, 60):
            for symbol in series:
                await feed_one(service, store, series_bar(series, symbol, i))
        for _ in range(100):
            if len(events) == 20:
                break
            await asyncio.sleep(0.01)

        assert counting.scans == read_by_warm
        assert [e["ts"] for e in events] == [int(series["EURUSD"].ts_ms[i]) for i in range(40, 60)]
        assert_matches_batch(events[-1], series)


def two_series() -> dict[str, OHLCV]:
    return {"EURUSD": make_ohlcv(60, seed=41), "USDJPY": make_ohlcv(60, seed=42)}


def series_bar(series: dict[str, OHLCV], symbol: str, i: int) -> AggregatedBar:
    data = series[symbol]
    return AggregatedBar(
        symbol,
        TF,
        int(data.ts_ms[i]),
        float(data.open[i]),
        float(data.high[i]),
        float(data.low[i]),
        float(data.close[i]),
        1.0,
        1,
    )


def assert_matches_batch(event: dict[str, Any], series: dict[str, OHLCV]) -> None:
    """The event of the last row: the batch matrix and currency strength of 20 returns."""
    closes = {s: (d.ts_ms, d.close) for s, d in series.items()}
    _, returns = aligned_log_returns(closes)
    assert event["symbols"] == ["EURUSD", "USDJPY"] and event["window"] == 20
    np.testing.assert_allclose(event["matrix"], correlation_matrix(returns[-20:]), rtol=1e-9)
    sums = returns[-20:].sum(axis=0)
    assert event["currency_strength"] == pytest.approx(
        {"EUR": sums[0], "USD": (-sums[0] + sums[1]) / 2, "JPY": -sums[1]}, rel=1e-9
    )


class TestCompiledKernels:
    def test_start_compiles_the_regime_kernels_before_the_first_bar(self, tmp_path: Path) -> None:
        """A fresh process: nothing compiled before ``start``, the mixture fit after it, so
        no tick waits behind numba compiling (or loading its cache) mid-stream."""
        program = f"""
import asyncio
from chainflow.features import mixture_em
from chainflow.features.service import FeaturesService
from chainflow.core.clock import WallClock
from chainflow.core.settings import BusSettings, FeaturesSettings, TimeSeriesSettings
from chainflow.hub.bus import open_bus
from chainflow.storage.timeseries import open_timeseries

async def main():
    store = open_timeseries("duckdb://{tmp_path}/ts.duckdb", TimeSeriesSettings())
    bus = open_bus(BusSettings(url="memory://"))
    await store.start()
    await bus.start()
    service = FeaturesService(bus=bus, store=store, clock=WallClock(), settings=FeaturesSettings())
    before = len(mixture_em._fit.signatures)
    await service.start()
    print(before, len(mixture_em._fit.signatures))
    await bus.close()
    await store.close()

asyncio.run(main())
"""
        done = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["0", "1"]
