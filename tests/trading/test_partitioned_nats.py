"""Tick hot path replicas sharing the tick partitions on the real NATS JetStream and Redis.

Two, then three trading services in this process, each with its own NATS connection,
registry client and lease client and a distinct instance id, as separate processes would
have; the time-series store and the relational database are shared, as at scale. No model
is promoted: every tick of an ``every_tick`` connection is answered with a ``hold`` frame
carrying its ``seq`` (the frames the hot path sends whatever the model says).

Ticks of 10 tenants (one symbol, one connection each, spread over the partitions) are
published as the bridge does, on ``bridge.ticks.p<k>.<tenant>.<symbol>``. The terminal's
side is the bridge's own ``SignalForwarder`` per connection (a signal whose ``seq`` is not
newer than the last forwarded is dropped), fed with every frame published on the
connection's subject. Each replica's bus records every answer it publishes with whether
the replica held the lease of the tenant's partition at that moment (read from Redis just
before the publish; the real bus then publishes it). Proves:

- in a steady state every tick is answered exactly once on its connection subject, by the
  owner of its tenant's partition, in order per connection;
- a replica joining (partitions moved by the rebalance) and a replica stopped cleanly hand
  their partitions over with no tick unanswered: the taker stands by (subscribed, holding
  the ticks) before the giver unsubscribes. A tick both saw is answered by both (counted
  as replica-level repeats), the giver first; the terminal gets each tick once, in order;
- a replica killed (no release, no deregistration) has its partitions answered again
  within ``Membership.takeover_bound_s``; the ticks it had queued and those published
  until the takeover may go unanswered (only those);
- no answer is ever published by a replica not holding its partition's lease;
- a replica forgets the keys of the partitions it gave up.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chainflow.bridge.events import TickRow, TicksAccepted, ticks_topic
from chainflow.bridge.signal_forward import SignalForwarder
from chainflow.core.clock import WallClock
from chainflow.core.health import HealthReport
from chainflow.core.settings import (
    DatabaseSettings,
    MlSettings,
    TimeSeriesSettings,
    TradingSettings,
)
from chainflow.hub.api import (
    BusMessage,
    EventBus,
    Membership,
    MessageHandler,
    PartitionPlan,
    RequestHandler,
    Subscription,
    partition_of,
)
from chainflow.ml.live.model_cache import ServedModels
from chainflow.ml.registry.model_registry import local_model_registry
from chainflow.storage.relational import Database, upgrade
from chainflow.storage.timeseries import open_timeseries
from chainflow.trading.events import connection_topic
from chainflow.trading.service import TradingService
from chainflow.trading.tick.partitions import PLAN_NAME, SERVICE, TickInput
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
LEASES = PartitionPlan(SERVICE, PLAN_NAME, PARTITIONS, subject=str)


def connection_of(tenant: str) -> str:
    return f"conn-{tenant[-2:]}"


def seqs_of(data: bytes) -> list[int]:
    return [int(json.loads(line)["seq"]) for line in data.split(b"\n") if line]


@dataclass(frozen=True)
class Answer:
    """One tick answered by one replica, and whether it held the partition's lease then."""

    instance_id: str
    tick: Answered
    held_lease: bool


@dataclass
class Answers:
    """Every answer every replica published."""

    made: list[Answer] = field(default_factory=list)

    def without_lease(self) -> list[Answer]:
        return [answer for answer in self.made if not answer.held_lease]


class AnswerRecordingBus:
    """A replica's real bus; an answer it publishes is recorded first, with the holder of
    its tenant's partition lease read from Redis at that moment."""

    def __init__(self, bus: EventBus, membership: Membership, answers: Answers) -> None:
        self._bus = bus
        self._membership = membership
        self._answers = answers
        self._tenants = {connection_topic(t, connection_of(t)): t for t in TENANTS}
        self.backend = bus.backend
        self.partitions = bus.partitions

    async def start(self) -> None:
        await self._bus.start()

    async def close(self) -> None:
        await self._bus.close()

    async def health(self) -> HealthReport:
        return await self._bus.health()

    async def publish(
        self, subject: str, data: bytes, *, headers: Mapping[str, str] | None = None
    ) -> None:
        tenant = self._tenants.get(subject)
        if tenant is not None:
            lease = LEASES.lease_of(partition_of(tenant, partitions=PARTITIONS))
            me = self._membership.instance_id
            held = await self._membership.leases.holder(lease) == me
            for seq in seqs_of(data):
                self._answers.made.append(Answer(me, (connection_of(tenant), seq), held))
        await self._bus.publish(subject, data, headers=headers)

    async def subscribe(
        self,
        subject: str,
        handler: MessageHandler,
        *,
        durable: str | None = None,
        max_in_flight: int | None = None,
    ) -> Subscription:
        return await self._bus.subscribe(
            subject, handler, durable=durable, max_in_flight=max_in_flight
        )

    async def reclaim(self, durable: str) -> int:
        return await self._bus.reclaim(durable)

    async def request(self, subject: str, data: bytes, *, timeout_s: float | None = None) -> bytes:
        return await self._bus.request(subject, data, timeout_s=timeout_s)

    async def serve(self, subject: str, handler: RequestHandler) -> Subscription:
        return await self._bus.serve(subject, handler)


@dataclass
class TradingReplica:
    """One process's trading service, stopped as the kernel stops it (or crashed)."""

    service: TradingService

    async def start(self) -> None:
        await self.service.start()

    async def stop(self, *, release: bool = True) -> None:
        await self.service.stop(release=release)  # a crash answers nothing more

    @property
    def tick_input(self) -> TickInput:
        return self.service.tick_path.input


@pytest.fixture
def answers() -> Answers:
    return Answers()


@pytest.fixture
async def deployment(tmp_path: Path, answers: Answers) -> AsyncIterator[Deployment[TradingReplica]]:
    store = open_timeseries(f"duckdb://{tmp_path}/ts.duckdb", TimeSeriesSettings())
    await store.start()
    relational = sqlite_database(tmp_path)
    await upgrade(relational.url)
    database = Database(relational.url, DatabaseSettings(url=relational.url))
    home = tmp_path / "home"

    def build(bus: EventBus, clock: WallClock, membership: Membership) -> TradingReplica:
        models = ServedModels(local_model_registry(home, clock), database, clock, MlSettings())
        service = TradingService(
            bus=AnswerRecordingBus(bus, membership, answers),
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
    """The bridge's side (ticks published per tenant, in seq order), what its connections
    receive on their subjects (``received``: every replica's answers) and what they forward
    to the terminals (``answers``: through the bridge's ``SignalForwarder``)."""

    def __init__(self, bridge: EventBus) -> None:
        self.bridge = bridge
        self.next_seq: dict[str, int] = dict.fromkeys(TENANTS, 1)
        self.published_at: dict[Answered, float] = {}
        self.received: dict[str, list[int]] = defaultdict(list)
        self.answers: dict[str, list[int]] = defaultdict(list)
        self.forwarders = {connection_of(t): SignalForwarder() for t in TENANTS}

    async def observe(self, observer: EventBus) -> None:
        for tenant in TENANTS:
            connection = connection_of(tenant)

            async def on(message: BusMessage, connection: str = connection) -> None:
                self.received[connection].extend(seqs_of(message.data))
                for line in self.forwarders[connection].lines(message.data):
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

    def repeats(self, ticks: list[Answered]) -> int:
        """How many answers of ``ticks`` the connections received beyond the first (the
        same tick answered by the giver and the taker), all dropped by the forwarders."""
        wanted = set(ticks)
        counts = Counter((c, s) for c, seqs in self.received.items() for s in seqs)
        return sum(n - 1 for tick, n in counts.items() if tick in wanted and n > 1)


BALANCE_WAIT_S = 60.0  # a killed replica's leases expire first; a loaded CI run is slow


async def balanced(deployment: Deployment[TradingReplica]) -> float:
    return await eventually(
        deployment.balanced, "the partitions balanced over the replicas", BALANCE_WAIT_S
    )


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
        self, deployment: Deployment[TradingReplica], answers: Answers
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
        assert not lost_join, f"ticks unanswered across the join: {lost_join}"

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
        assert not lost_stop, f"ticks unanswered across the clean stop: {lost_stop}"
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
        assert not answers.without_lease(), "answered without the partition's lease"
        total = len(market.published_at)
        summary = (
            f"ticks {total}; unanswered: join {len(lost_join)}/{len(during_join)}, "
            f"clean stop {len(lost_stop)}/{len(during_stop)}, "
            f"kill {len(lost_kill)}/{len(during_kill)} (takeover {took_s:.2f} s); "
            f"replica-level repeats (dropped by the bridge): join "
            f"{market.repeats(during_join)}, clean stop {market.repeats(during_stop)}, "
            f"kill {market.repeats(during_kill)}; answers {len(answers.made)}, without "
            f"the lease {len(answers.without_lease())}; owners {owners(deployment)}"
        )
        sys.stderr.write(summary + "\n")
