"""The features service on NATS JetStream (and the embedded DuckDB store), as deployed at scale.

Proves: bars the bridge stored and published on ``bridge.bars.…`` come out as one
``FeaturesComputed`` per bar, in order, equal to the batch feature matrix, and the stored
latest vector matches; bars published while no features process runs are not lost: a new
process on the same durable consumer receives them, rebuilds its state from the stored
bars and computes the same vectors the batch matrix gives.

Each test gets its own stream and subject prefix (``pytest -n`` safe) and deletes the stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from chainflow.bridge.bar_table import persist_bars
from chainflow.bridge.bars import AggregatedBar
from chainflow.bridge.events import bars_topic
from chainflow.core.settings import BusSettings, TimeSeriesSettings
from chainflow.features.events import features_topic
from chainflow.features.feature_table import read_latest_vector
from chainflow.hub.api import BusMessage, EventBus
from chainflow.hub.bus import open_bus
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.timeseries import open_timeseries
from tests.features.test_service import (
    SYMBOL,
    TENANT,
    TF,
    aggregated,
    assert_vectors_equal,
    batch_rows,
    make_service,
    published,
)
from tests.fixtures.backends import delete_nats_stream, require_backend, unique_name
from tests.fixtures.market_data import make_ohlcv

pytestmark = pytest.mark.nats

WAIT_S = 20.0
LIVE_BARS = 260  # past the feature set's 234-bar warm-up: every feature is set
DOWN_BARS = 40

OpenClient = Callable[[], Awaitable[EventBus]]


async def eventually(predicate: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"expected {what} within {timeout_s} s")
        await asyncio.sleep(0.02)


@pytest.fixture
async def settings() -> AsyncIterator[BusSettings]:
    url = require_backend("nats")
    chosen = BusSettings(
        url=url,
        stream=unique_name("CFFEAT").upper(),
        subject_prefix=unique_name("cf"),
        ack_wait_s=2.0,
        max_deliver=3,
        request_timeout_s=2.0,
    )
    yield chosen
    await delete_nats_stream(url, chosen.stream)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TimeSeriesStore]:
    opened = open_timeseries(f"duckdb://{tmp_path}/ts.duckdb", TimeSeriesSettings())
    await opened.start()
    yield opened
    await opened.close()


@pytest.fixture
async def clients(settings: BusSettings) -> AsyncIterator[OpenClient]:
    """Open NATS clients of one deployment (one per "process"); close them all at the end."""
    opened: list[EventBus] = []

    async def open_client() -> EventBus:
        client = open_bus(settings)
        await client.start()
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.close()


async def bridge_publishes(
    bridge: EventBus, store: TimeSeriesStore, bars: list[AggregatedBar]
) -> None:
    """What the bridge does with closed bars: store them, then publish them."""
    await persist_bars(store, TENANT, bars)
    for bar in bars:
        await bridge.publish(bars_topic(TENANT, SYMBOL, TF), published(bar).to_json())


class TestFeaturesOnJetStream:
    async def test_vectors_in_order_and_bars_published_while_down_are_not_lost(
        self, store: TimeSeriesStore, clients: OpenClient
    ) -> None:
        data = make_ohlcv(LIVE_BARS + DOWN_BARS, seed=21)
        bars = [aggregated(data, i) for i in range(LIVE_BARS + DOWN_BARS)]
        want = batch_rows(bars)
        bridge = await clients()
        observer = await clients()
        received: list[dict[str, Any]] = []

        async def collect(message: BusMessage) -> None:
            received.append(json.loads(message.data))

        await observer.subscribe(features_topic(TENANT, SYMBOL, TF.value), collect)
        first = make_service(store, await clients())
        await first.start()  # creates the durable consumer "features"

        await bridge_publishes(bridge, store, bars[:LIVE_BARS])
        await eventually(lambda: len(received) >= LIVE_BARS, f"{LIVE_BARS} vectors")
        await first.stop()

        assert [m["ts"] for m in received] == [b.ts for b in bars[:LIVE_BARS]]
        assert not any(m["revised"] for m in received)
        for message, row in zip(received, want[:LIVE_BARS], strict=True):
            assert_vectors_equal(message["values"], row)
        last = received[-1]
        assert (last["tenant_id"], last["symbol"], last["timeframe"]) == (TENANT, SYMBOL, "M5")
        assert last["feature_set"] == "fx-core@1" and None not in last["values"]
        assert first.stats.rebuilds == 1 and first.stats.vectors == LIVE_BARS
        stored = await read_latest_vector(store, TENANT, SYMBOL, TF.value, first.feature_set)
        assert stored is not None and stored.ts == bars[LIVE_BARS - 1].ts
        assert_vectors_equal(stored.values, want[LIVE_BARS - 1])
        assert stored.regime == last["regime"]

        await bridge_publishes(bridge, store, bars[LIVE_BARS:])  # no features process runs
        await asyncio.sleep(0.3)
        assert len(received) == LIVE_BARS
        second = make_service(store, await clients())  # a new process, same durable name
        await second.start()
        total = LIVE_BARS + DOWN_BARS
        await eventually(lambda: len(received) >= total, f"the {DOWN_BARS} bars sent while down")
        await asyncio.sleep(0.3)  # nothing more (no duplicate, no redelivery) follows
        await second.stop()

        later = received[LIVE_BARS:]
        assert [m["ts"] for m in later] == [b.ts for b in bars[LIVE_BARS:]]
        assert not any(m["revised"] for m in later)
        for message, row in zip(later, want[LIVE_BARS:], strict=True):
            assert_vectors_equal(message["values"], row)
        assert second.stats.bars == DOWN_BARS
        assert second.stats.rebuilds == 1  # the first bar after the start: a warm start
        assert second.stats.replayed_bars == LIVE_BARS
        stored = await read_latest_vector(store, TENANT, SYMBOL, TF.value, second.feature_set)
        assert stored is not None and stored.ts == bars[-1].ts
        assert_vectors_equal(stored.values, want[-1])
