"""Tick hot path replicas sharing the tick partitions on the real NATS JetStream and Redis.

Two, then three trading services in this process, each with its own NATS connection,
registry client and lease client and a distinct instance id, as separate processes would
have; the time-series store and the relational database are shared, as at scale. No model
is promoted: every tick of an ``every_tick`` connection is answered with a ``hold`` frame
carrying its ``seq`` (the frames the hot path sends whatever the model says).

Ticks of 10 tenants (one symbol, one connection each, spread over the partitions) are
published as the bridge does, on ``bridge.ticks.p<k>.<tenant>.<symbol>``. Proves:

- in a steady state every tick is answered exactly once on its connection subject, by the
  owner of its tenant's partition, in order per connection;
- a replica joining (partitions moved by the rebalance) and a replica stopped cleanly hand
  their partitions over with no tick answered twice and order kept per connection; a tick
  can go unanswered only if it was published during the handover (between the giver's
  unsubscribe and the taker's subscribe);
- a replica killed (no release, no deregistration) has its partitions answered again
  within ``Membership.takeover_bound_s``; no tick answered twice; the ticks it had queued
  and those published until the takeover go unanswered;
- a replica forgets the keys of the partitions it gave up.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chainflow.bridge.events import TickRow, TicksAccepted, ticks_topic
from chainflow.core.clock import WallClock
from chainflow.core.settings import (
    DatabaseSettings,
    MlSettings,
    TimeSeriesSettings,
    TradingSettings,
)
from chainflow.hub.api import BusMessage, EventBus, Membership, partition_of
from chainflow.ml.live.model_cache import ServedModels
from chainflow.ml.registry.model_registry import local_model_registry
from chainflow.storage.relational import Database, upgrade
from chainflow.storage.timeseries import open_timeseries
from chainflow.trading.events import connection_topic
from chainflow.trading.service import TradingService
from chainflow.trading.tick.partitions import TickInput
from tests.fixtures.database import sqlite_database
from tests.fixtures.replicas import (
    PARTITIONS,
    TAKEOVER_BOUND_S,
    Deployment,
    Replica,
    ServicePlug,
    eventually,
    replica_deployment,
)

pytestmark = [pytest.mark.nats, pytest.mark.redis]

TENANTS = [f"0190a5c0-0000-7000-8000-0000000002{i:02d}" for i in range(10)]
SYMBOL = "EURUSD.a"
START_MS = 1_700_000_000_000
PAUSE_S = 0.01  # between rounds of one tick per tenant

Answered = tuple[str, int]  # connection, seq


def connection_of(tenant: str) -> str:
    return f"conn-{tenant[-2:]}"


@dataclass
class TradingReplica:
    """One process's trading service, stopped as the kernel stops it (or crashed)."""

    service: TradingService

    async def start(self) -> None:
        await self.service.start()

    async def stop(self, *, release: bool = True) -> None:
        if not release:
            await self.service.tick_path.stop(release=False)  # a crash answers nothing more
        await self.service.stop()

    @property
    def tick_input(self) -> TickInput:
        return self.service.tick_path.input


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment[TradingReplica]]:
    store = open_timeseries(f"duckdb://{tmp_path}/ts.duckdb", TimeSeriesSettings())
    await store.start()
    relational = sqlite_database(tmp_path)
    await upgrade(relational.url)
    database = Database(relational.url, DatabaseSettings(url=relational.url))
    home = tmp_path / "home"

    def build(bus: EventBus, clock: WallClock, membership: Membership) -> TradingReplica:
        models = ServedModels(local_model_registry(home, clock), database, clock, MlSettings())
        service = TradingService(
            bus=bus,
            database=database,
            store=store,
            clock=clock,
            settings=TradingSettings(),
            models=models,
            membership=membership,
        )
        return TradingReplica(service)

    # The harness reads the partition owner of the input (``.owner``), as of a KeyedInput.
    plug = ServicePlug("trading", build, lambda replica: replica.tick_input)  # type: ignore[arg-type,return-value]
    try:
        async with replica_deployment(plug, name="TRPART") as made:
            yield made
    finally:
        await database.dispose()
        await store.close()


class Market:
    """The bridge's side (ticks published per tenant, in seq order) and the MT5 side (the
    frames received on each connection's subject)."""

    def __init__(self, bridge: EventBus) -> None:
        self.bridge = bridge
        self.next_seq: dict[str, int] = dict.fromkeys(TENANTS, 1)
        self.published_at: dict[Answered, float] = {}
        self.answers: dict[str, list[int]] = defaultdict(list)

    async def observe(self, observer: EventBus) -> None:
        for tenant in TENANTS:
            connection = connection_of(tenant)

            async def on(message: BusMessage, connection: str = connection) -> None:
                for line in message.data.split(b"\n"):
                    if line:
                        self.answers[connection].append(int(json.loads(line)["seq"]))

            await observer.subscribe(connection_topic(tenant, connection), on)

    async def publish(self, rounds: int) -> list[Answered]:
        """Publish ``rounds`` ticks per tenant, one round at a time; return them."""
        sent: list[Answered] = []
        loop = asyncio.get_running_loop()
        for _ in range(rounds):
            for tenant in TENANTS:
                seq = self.next_seq[tenant]
                self.next_seq[tenant] = seq + 1
                ts = START_MS + seq * 1000
                bid = 1.1 + 0.0001 * (seq % 50)
                event = TicksAccepted(
                    tenant,
                    SYMBOL,
                    ts,
                    (TickRow(ts, bid, round(bid + 0.0001, 6), 1.0, False, seq),),
                    connection=connection_of(tenant),
                    signals="every_tick",
                    received_us=ts * 1000,
                )
                subject = ticks_topic(tenant, SYMBOL, partitions=self.bridge.partitions)
                await self.bridge.publish(subject, event.to_json())
                self.published_at[connection_of(tenant), seq] = loop.time()
                sent.append((connection_of(tenant), seq))
            await asyncio.sleep(PAUSE_S)
        return sent

    def answered(self) -> set[Answered]:
        return {(c, s) for c, seqs in self.answers.items() for s in seqs}

    def all_answered(self, ticks: list[Answered]) -> bool:
        answered = self.answered()
        return all(tick in answered for tick in ticks)

    def assert_once_and_in_order(self) -> None:
        for connection, seqs in self.answers.items():
            twice = [s for s, n in Counter(seqs).items() if n > 1]
            assert not twice, f"{connection}: ticks answered twice: {twice}"
            assert seqs == sorted(seqs), f"{connection}: answers out of order: {seqs}"

    def unanswered(self, ticks: list[Answered]) -> list[Answered]:
        answered = self.answered()
        return [tick for tick in ticks if tick not in answered]


async def balanced(deployment: Deployment[TradingReplica]) -> float:
    return await eventually(deployment.balanced, "the partitions balanced over the replicas")


def owners(deployment: Deployment[TradingReplica]) -> dict[int, str]:
    return {p: r.instance_id for r in deployment.replicas for p in r.owned}


def assert_forgot_given_up(replica: Replica[TradingReplica]) -> None:
    """A replica keeps quotes (per-key state) only of tenants whose partitions it owns."""
    tick_path = replica.service.service.tick_path
    for tenant in TENANTS:
        if partition_of(tenant, partitions=PARTITIONS) not in replica.owned:
            assert tick_path.quote(tenant, SYMBOL) is None, f"{tenant}: state kept"


class TestTickPathReplicas:
    async def test_ticks_answered_once_across_join_clean_stop_and_kill(
        self, deployment: Deployment[TradingReplica]
    ) -> None:
        market = Market(await deployment.client())
        await market.observe(await deployment.client())
        spread = {partition_of(t, partitions=PARTITIONS) for t in TENANTS}
        assert len(spread) >= 5  # the tenants really are spread over the partitions
        loop = asyncio.get_running_loop()

        a = await deployment.start_replica("trading-a")
        b = await deployment.start_replica("trading-b")
        await balanced(deployment)
        assert a.owned and b.owned and not a.owned & b.owned

        # Steady: every tick answered once, by its partition's owner, in order.
        steady = await market.publish(20)
        await eventually(lambda: market.all_answered(steady), "every steady tick answered")
        market.assert_once_and_in_order()
        for replica in (a, b):
            assert_forgot_given_up(replica)

        # A third replica joins while ticks flow: partitions move by rebalance.
        flowing = asyncio.create_task(market.publish(60))
        c = await deployment.start_replica("trading-c")
        await balanced(deployment)
        during_join = await flowing
        steady = await market.publish(20)
        await eventually(lambda: market.all_answered(steady), "ticks after the join answered")
        market.assert_once_and_in_order()
        lost_join = market.unanswered(during_join)

        # A clean stop while ticks flow: its partitions handed over.
        flowing = asyncio.create_task(market.publish(60))
        await asyncio.sleep(0.1)
        await deployment.stop_cleanly(a)
        await balanced(deployment)
        during_stop = await flowing
        steady = await market.publish(20)
        await eventually(lambda: market.all_answered(steady), "ticks after the stop answered")
        market.assert_once_and_in_order()
        lost_stop = market.unanswered(during_stop)
        for replica in (b, c):
            assert_forgot_given_up(replica)

        # A kill while ticks flow: leases left to expire, survivors take over.
        flowing = asyncio.create_task(market.publish(150))
        await asyncio.sleep(0.1)
        killed_at = loop.time()
        killed_partitions = b.owned
        await deployment.kill(b)
        took_s = await balanced(deployment)
        assert took_s <= TAKEOVER_BOUND_S + 2.0
        during_kill = await flowing
        steady = await market.publish(20)
        await eventually(lambda: market.all_answered(steady), "ticks after the kill answered")
        market.assert_once_and_in_order()
        lost_kill = market.unanswered(during_kill)
        assert_forgot_given_up(c)

        # What went unanswered: only ticks of moved partitions, published while moving.
        tenants_of = {connection_of(t): t for t in TENANTS}
        for tick in lost_kill:
            tenant = tenants_of[tick[0]]
            assert partition_of(tenant, partitions=PARTITIONS) in killed_partitions
            published_s = market.published_at[tick] - killed_at
            assert published_s <= TAKEOVER_BOUND_S + 1.0, f"{tick} lost {published_s:.2f}s"
        total = len(market.published_at)
        summary = (
            f"ticks {total}; unanswered: join {len(lost_join)}/{len(during_join)}, "
            f"clean stop {len(lost_stop)}/{len(during_stop)}, "
            f"kill {len(lost_kill)}/{len(during_kill)} (takeover {took_s:.2f} s); "
            f"owners {owners(deployment)}"
        )
        sys.stderr.write(summary + "\n")
