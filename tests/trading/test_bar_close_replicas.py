"""The bar-close path across trading replicas, on the real NATS JetStream and Redis.

Two, then three trading services in this process, each with its own NATS connection,
registry client and lease client and a distinct instance id, as separate processes would
have; the relational database is shared, as at scale. Predictions of 10 tenants (one
symbol each, spread over the partitions) are published as the ml service does, on
``predictions.p<k>.<tenant>.<symbol>.<tf>``, with a pattern that changes the stable action
every 10 bars, so that each tenant's signals depend on its strategy's state (hysteresis,
last issued action) and on its paper book (the position the strategy is told it holds).

The reference is one ``TradingService`` alone, fed the same predictions in order. Proves:

- with replicas, each tenant's predictions are run by the replica holding its tick
  partition, and its paper book and strategy states are held by that replica only;
- across a replica joining and a replica stopped cleanly while predictions flow (the
  partitions move), the stored signals are exactly the reference's (the strategy states
  and the paper books were saved by the giver and loaded by the taker), none stored twice,
  and the paper books hold the reference's positions;
- after a replica is killed, its partitions' predictions are run again by a survivor (the
  one in flight after the bus's ack wait); no signal is stored or published twice for a
  bar, and every prediction published after the takeover is run.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from chainflow.core.clock import WallClock
from chainflow.core.ids import TenantId
from chainflow.core.settings import (
    BusSettings,
    DatabaseSettings,
    TimeSeriesSettings,
    TradingSettings,
)
from chainflow.core.tenancy import TenantContext
from chainflow.hub.api import BusMessage, EventBus, Membership, partition_of
from chainflow.hub.bus import open_bus
from chainflow.ml.api import PredictionMade, predictions_topic
from chainflow.storage.relational import Database, upgrade
from chainflow.storage.timeseries import open_timeseries
from chainflow.trading.events import SignalIssued
from chainflow.trading.repository import SignalRepository
from chainflow.trading.service import TradingService
from tests.fixtures.database import sqlite_database
from tests.fixtures.replicas import (
    PARTITIONS,
    Deployment,
    ServicePlug,
    eventually,
    replica_deployment,
)
from tests.trading.test_partitioned_nats import TradingReplica, balanced
from tests.trading.test_service_risk import prediction as risk_prediction

pytestmark = [pytest.mark.nats, pytest.mark.redis]

TENANTS = [f"0190a5c0-0000-7000-8000-0000000003{i:02d}" for i in range(10)]
SYMBOL = "EURUSD"
TF = "M5"
BAR_MS = 300_000
START_MS = 1_700_000_100_000 // BAR_MS * BAR_MS
PAUSE_S = 0.02  # between bars (one prediction per tenant each)
INTERVAL_S = 0.3  # the replicas' heartbeat
LEASE_TTL_S = 3.0
ACK_WAIT_S = 5.0
RUN_S = 60.0  # for the predictions of a phase to be run (a loaded CI machine)
SAVE_S = 60.0  # the paper saver's interval: only handovers and signals save (save_soon)
PHASES = (
    {"down": 0.1, "flat": 0.2, "up": 0.7},
    {"down": 0.3, "flat": 0.4, "up": 0.3},
    {"down": 0.7, "flat": 0.2, "up": 0.1},
)

SignalKey = tuple[str, int]  # tenant, bar ts


def bar_ts(bar: int) -> int:
    return START_MS + bar * BAR_MS


def prediction(tenant: str, bar: int) -> PredictionMade:
    """The tenant's prediction of ``bar``: its phase of the pattern (10 bars each)."""
    phase = PHASES[(bar // 10 + TENANTS.index(tenant)) % 3]
    return replace(risk_prediction(tenant, bar_ts(bar), phase), close=1.1 + 0.0001 * (bar % 7))


def settings() -> TradingSettings:
    return TradingSettings(paper_save_s=SAVE_S)


@dataclass
class Shared:
    database: Database
    reference: TradingService


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[Shared]:
    relational = sqlite_database(tmp_path)
    await upgrade(relational.url)
    database = Database(relational.url, DatabaseSettings(url=relational.url))
    alone = sqlite_database(tmp_path / "reference")
    await upgrade(alone.url)
    reference_db = Database(alone.url, DatabaseSettings(url=alone.url))
    store = open_timeseries(f"duckdb://{tmp_path}/reference.duckdb", TimeSeriesSettings())
    await store.start()
    bus = open_bus(BusSettings())
    await bus.start()
    reference = TradingService(
        bus=bus, database=reference_db, store=store, clock=WallClock(), settings=settings()
    )
    try:
        yield Shared(database, reference)
    finally:
        await bus.close()
        await store.close()
        await reference_db.dispose()
        await database.dispose()


@pytest.fixture
async def deployment(tmp_path: Path, shared: Shared) -> AsyncIterator[Deployment[TradingReplica]]:
    store = open_timeseries(f"duckdb://{tmp_path}/ts.duckdb", TimeSeriesSettings())
    await store.start()

    def build(bus: EventBus, clock: WallClock, membership: Membership) -> TradingReplica:
        service = TradingService(
            bus=bus,
            database=shared.database,
            store=store,
            clock=clock,
            settings=settings(),
            membership=membership,
        )
        return TradingReplica(service)

    plug = ServicePlug("trading", build, lambda replica: replica.tick_input)  # type: ignore[arg-type,return-value]
    try:
        # A lease outlives a slow round here: a handover saves books and drains a durable
        # consumer, which on a loaded CI machine took longer than the default 1 s TTL's margin.
        # The bus's ack wait is closer to production's (30 s): at 2 s, a prediction waiting
        # behind a handover's save on a loaded machine can be redelivered while it still
        # runs, and each move of its partition may nak it once more.
        async with replica_deployment(
            plug,
            name="TRBAR",
            interval_s=INTERVAL_S,
            lease_ttl_s=LEASE_TTL_S,
            ack_wait_s=ACK_WAIT_S,
            max_deliver=20,
        ) as made:
            yield made
    finally:
        await store.close()


class Predictions:
    """The ml side: predictions published bar by bar, and the reference's signals."""

    def __init__(self, bus: EventBus, reference: TradingService) -> None:
        self.bus = bus
        self.reference = reference
        self.published = 0  # bars published
        self.expected: dict[SignalKey, SignalIssued] = {}

    async def publish(self, bars: int) -> None:
        for _ in range(bars):
            bar = self.published
            for tenant in TENANTS:
                made = prediction(tenant, bar)
                subject = predictions_topic(tenant, SYMBOL, TF, partitions=self.bus.partitions)
                await self.bus.publish(subject, made.to_json())
                signal = await self.reference.on_prediction(made)
                if signal is not None:
                    self.expected[tenant, signal.ts] = signal
            self.published += 1
            await asyncio.sleep(PAUSE_S)


class SignalsSeen:
    """Every signal stored in the stream (a durable consumer: the bus's dedup applies)."""

    def __init__(self) -> None:
        self.seen: Counter[SignalKey] = Counter()

    async def on(self, message: BusMessage) -> None:
        body = json.loads(message.data)
        tenant = message.subject.split(".")[1]
        self.seen[tenant, int(body["ts"])] += 1


async def stored_signals(database: Database) -> dict[SignalKey, list[tuple[str, float]]]:
    found: dict[SignalKey, list[tuple[str, float]]] = {}
    for tenant in TENANTS:
        context = TenantContext(tenant_id=TenantId(tenant))
        async with database.unit_of_work(context, read_only=True) as uow:
            rows = await SignalRepository(uow.session, context).latest(symbol=SYMBOL, limit=1000)
        for row in rows:
            found.setdefault((tenant, row.ts), []).append((row.action, row.size))
    return found


async def subscribed(deployment: Deployment[TradingReplica]) -> None:
    """Wait until every replica's prediction consumers exist (created in the background
    once its partitions are taken; a new consumer reads new predictions only)."""

    def ready() -> bool:
        replicas = deployment.replicas
        return all(r.service.service.predictions.subscribed() == r.owned for r in replicas)

    await eventually(ready, "the prediction consumers subscribed")


async def all_run(deployment: Deployment[TradingReplica], bar: int, what: str) -> None:
    """Wait until every partition has one owner and every tenant's prediction of ``bar``
    was run: as the owner knows it, or as its saved strategy state says.

    A partition whose predictions were all run before it moved (the last bars of a phase
    run by the replica being stopped) has nothing for its new owner to run, which loads the
    tenant's state only with its next prediction: its saved state is what was run. (Loaded
    runs waited here in vain on the new owner's memory while every consumer had acked all
    it delivered.)
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await _all_run(deployment, bar):
        if loop.time() - started > RUN_S:
            raise AssertionError(f"expected {what} within {RUN_S} s")
        await asyncio.sleep(0.05)


async def _all_run(deployment: Deployment[TradingReplica], bar: int) -> bool:
    for tenant in TENANTS:
        partition = partition_of(tenant, partitions=PARTITIONS)
        owners = [r for r in deployment.replicas if partition in r.owned]
        if len(owners) != 1:
            return False
        service = owners[0].service.service
        decided = service.decided_through(tenant, SYMBOL, TF)
        if decided is None:
            saved = await service.paper_store.read(tenant) or {}
            keys = [s for s in saved.get("strategies", []) if s["symbol"] == SYMBOL]
            decided = max((s["last_ts"] or 0 for s in keys), default=None)
        if decided is None or decided < bar_ts(bar):
            return False
    return True


def assert_books_only_of_owned(deployment: Deployment[TradingReplica]) -> None:
    for replica in deployment.replicas:
        desk = replica.service.service.desk
        for tenant in desk.tenants():
            assert partition_of(tenant, partitions=PARTITIONS) in replica.owned, (
                f"{replica.instance_id} holds the book of {tenant}, not its partition"
            )


class TestBarCloseReplicas:
    async def test_signals_follow_the_partitions_across_join_stop_and_kill(
        self, deployment: Deployment[TradingReplica], shared: Shared
    ) -> None:
        spread = {partition_of(t, partitions=PARTITIONS) for t in TENANTS}
        assert len(spread) >= 5
        client = await deployment.client()
        market = Predictions(client, shared.reference)
        seen = SignalsSeen()
        await client.subscribe("signals.>", seen.on, durable="signals-seen")

        a = await deployment.start_replica("trading-a")
        b = await deployment.start_replica("trading-b")
        await balanced(deployment)
        await subscribed(deployment)  # the consumers exist: they read new predictions only

        await market.publish(12)
        await all_run(deployment, 11, "bars 0-11 run")
        assert_books_only_of_owned(deployment)

        flowing = asyncio.create_task(market.publish(12))  # a third replica joins meanwhile
        c = await deployment.start_replica("trading-c")
        await balanced(deployment)
        await flowing
        await all_run(deployment, 23, "bars 12-23 run")
        assert_books_only_of_owned(deployment)

        flowing = asyncio.create_task(market.publish(12))  # a clean stop meanwhile
        await asyncio.sleep(0.1)
        await deployment.stop_cleanly(a)
        await balanced(deployment)
        await flowing
        await all_run(deployment, 35, "bars 24-35 run")
        assert_books_only_of_owned(deployment)

        # Exactly the reference's signals, once each, through the join and the stop.
        stored = await stored_signals(shared.database)
        assert len(market.expected) >= 20  # the pattern really issues signals
        twice = {key: rows for key, rows in stored.items() if len(rows) > 1}
        assert not twice, f"signals stored twice: {twice}"
        expected = {key: [(s.action, s.size)] for key, s in market.expected.items()}
        assert stored == expected
        for tenant in TENANTS:  # the owner's book (loaded on first use after a move)
            partition = partition_of(tenant, partitions=PARTITIONS)
            owner = next(r for r in deployment.replicas if partition in r.owned)
            accounts = await owner.service.service.paper_accounts_of(tenant)
            assert accounts is owner.service.service.desk
            lots = accounts.intended_lots(tenant, SYMBOL)
            assert lots == pytest.approx(shared.reference.desk.intended_lots(tenant, SYMBOL))

        # A read on a replica not running the tenant: the owner's last save (made at each
        # signal), never a book opened there.
        for tenant in TENANTS:
            partition = partition_of(tenant, partitions=PARTITIONS)
            other = next(r for r in deployment.replicas if partition not in r.owned)
            accounts = await other.service.service.paper_accounts_of(tenant)
            lots = accounts.intended_lots(tenant, SYMBOL)
            assert lots == pytest.approx(shared.reference.desk.intended_lots(tenant, SYMBOL))
        assert_books_only_of_owned(deployment)

        # A kill: the survivor runs its partitions from the last save.
        killed = b.owned
        flowing = asyncio.create_task(market.publish(12))
        await asyncio.sleep(0.1)
        await deployment.kill(b)
        await balanced(deployment)
        await flowing
        await all_run(deployment, 47, "bars 36-47 run")
        assert c.owned == frozenset(range(PARTITIONS)) and killed
        await market.publish(3)  # published after the takeover
        await all_run(deployment, 50, "bars after the kill run")
        stored = await stored_signals(shared.database)
        twice = {key: rows for key, rows in stored.items() if len(rows) > 1}
        assert not twice, f"signals stored twice after the kill: {twice}"
        await eventually(
            lambda: set(seen.seen) == set(stored), "every stored signal seen on the stream"
        )
        repeated = {key: n for key, n in seen.seen.items() if n > 1}
        assert not repeated, f"signals published twice: {repeated}"


class TestMisrouted:
    async def test_a_prediction_on_another_partitions_subject_is_refused_once(
        self, deployment: Deployment[TradingReplica]
    ) -> None:
        client = await deployment.client()
        alone = await deployment.start_replica("trading-alone")
        await balanced(deployment)
        # the consumers are created in the background once the partitions are taken, and
        # read new predictions only: publish once they exist (loaded runs raced them)
        await subscribed(deployment)
        tenant = TENANTS[0]
        wrong = (partition_of(tenant, partitions=PARTITIONS) + 1) % PARTITIONS
        subject = f"predictions.p{wrong}.{tenant}.{SYMBOL}.{TF}"
        await client.publish(subject, prediction(tenant, 0).to_json())
        service = alone.service.service
        await eventually(lambda: service.stats.rejected_messages == 1, "the prediction refused")
        await asyncio.sleep(0.5)  # terminated, not redelivered
        assert service.stats.rejected_messages == 1
        assert service.decided_through(tenant, SYMBOL, TF) is None
        assert service.stats.predictions == 0
