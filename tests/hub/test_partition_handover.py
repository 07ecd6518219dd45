"""The handover of live partitions (``PartitionOwner(handover=True)``) on the in-process bus.

Live subscriptions keep nothing for a partition without a subscriber, so the next owner
stands by (subscribed, holding the messages) before the previous owner unsubscribes, and
handles what it held once the lease is its own. Proves, under a steady stream on every
partition:

- across a join and a clean stop every message is handled at least once (those both
  replicas saw twice, once by each), each replica's messages of a partition in order;
- no message is handled by a replica not holding its partition's lease at that moment;
- a stand-by holds at most ``max_held`` messages (the oldest dropped) and is dropped when
  its lease does not come within ``Membership.standby_s``; it then handles what it held
  last, in order, once the lease is its own.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from chainflow.core.settings import BusSettings
from chainflow.hub.api import (
    BusMessage,
    EventBus,
    PartitionOwner,
    PartitionPlan,
    assign,
)
from chainflow.hub.bus import open_bus
from tests.fixtures.member_cluster import Members, until

PARTITIONS = 8
INTERVAL_S = 0.05
TTL_S = 1.0  # a loaded CI loop can stall past 0.3 s: a lapsed lease is no handover fault
PAUSE_S = 0.005  # between rounds of one message per partition

Handled = tuple[int, int]  # partition, number


@dataclass
class Replica:
    instance_id: str
    owner: PartitionOwner
    handled: list[Handled] = field(default_factory=list)


@dataclass
class Handling:
    """Every message handled, with whether its handler held the partition's lease."""

    without_lease: list[tuple[str, Handled]] = field(default_factory=list)
    abandoned: list[tuple[str, int]] = field(default_factory=list)


class Cluster:
    """Owners with ``handover`` of one plan of live partitions on one in-process bus."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.members = Members(ttl_s=TTL_S, interval_s=INTERVAL_S)
        self.leases = self.members.leases
        self.plan = PartitionPlan(
            service="live", durable="live", partitions=PARTITIONS, subject=lambda k: f"t.p{k}.>"
        )
        self.handling = Handling()
        self.sent: list[Handled] = []

    async def replica(self, instance_id: str, *, max_held: int = 1_000) -> Replica:
        membership = self.members.membership(instance_id)
        replica: Replica

        async def handle(message: BusMessage) -> None:
            tick = (int(message.subject.split(".")[1][1:]), int(message.data))
            holder = await self.leases.holder(self.plan.lease_of(tick[0]))
            if holder != instance_id:
                self.handling.without_lease.append((instance_id, tick))
            replica.handled.append(tick)

        async def abandoned(partition: int) -> None:
            self.handling.abandoned.append((instance_id, partition))

        owner = PartitionOwner(
            self.plan,
            handle,
            bus=self.bus,
            membership=membership,
            handover=True,
            max_held=max_held,
            on_abandon=abandoned,
        )
        replica = Replica(instance_id, owner)
        await owner.start()  # as the kernel: services start, then the instance registers
        await self.members.join(instance_id, "live")
        return replica

    async def leave(self, replica: Replica) -> None:
        """A clean stop: deregistered, then the owner stopped (leases freed)."""
        await self.members.leave(replica.instance_id)
        await replica.owner.stop()

    async def publish(self, rounds: int, start: int) -> list[Handled]:
        sent: list[Handled] = []
        for n in range(start, start + rounds):
            for k in range(PARTITIONS):
                await self.bus.publish(f"t.p{k}.x", str(n).encode())
                sent.append((k, n))
            await asyncio.sleep(PAUSE_S)
        return sent

    async def close(self) -> None:
        await self.members.close()


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    bus = open_bus(BusSettings(url="memory://"))
    await bus.start()
    made = Cluster(bus)
    yield made
    await made.close()
    await bus.close()


def balanced(*replicas: Replica) -> bool:
    table = assign(PARTITIONS, [r.instance_id for r in replicas])
    return all(r.owner.owned == table[r.instance_id] for r in replicas)


def handled(*replicas: Replica) -> Counter[Handled]:
    return Counter(tick for replica in replicas for tick in replica.handled)


def assert_in_order(*replicas: Replica) -> None:
    for replica in replicas:
        for k in range(PARTITIONS):
            numbers = [n for p, n in replica.handled if p == k]
            assert numbers == sorted(numbers), f"{replica.instance_id} p{k}: {numbers}"


class TestHandover:
    async def test_a_join_and_a_clean_stop_leave_no_message_unhandled(
        self, cluster: Cluster
    ) -> None:
        a = await cluster.replica("a")
        await until(lambda: balanced(a))
        flowing = asyncio.create_task(cluster.publish(150, 0))
        await asyncio.sleep(0.1)
        b = await cluster.replica("b")
        await until(lambda: balanced(a, b))
        during_join = await flowing

        flowing = asyncio.create_task(cluster.publish(150, 150))
        await asyncio.sleep(0.1)
        await cluster.leave(a)
        await until(lambda: balanced(b))
        during_stop = await flowing
        await until(lambda: set(during_stop) <= set(handled(a, b)))

        counts = handled(a, b)
        assert [t for t in during_join if t not in counts] == []
        assert [t for t in during_stop if t not in counts] == []
        assert cluster.handling.without_lease == []
        assert_in_order(a, b)
        assert b.owner.stats.standbys >= 1 and b.owner.stats.held >= 1
        assert a.owner.stats.handovers_unconfirmed == 0
        assert b.owner.stats.handovers_unconfirmed == 0
        await b.owner.stop()

    async def test_a_standby_is_bounded_in_messages_and_in_time(self, cluster: Cluster) -> None:
        holder = "gone"  # a previous owner that keeps its leases and hands nothing over
        for k in range(PARTITIONS):
            await cluster.leases.acquire(cluster.plan.lease_of(k), holder, 60.0)
        b = await cluster.replica("b", max_held=3)
        await until(lambda: b.owner.standing_by == frozenset(range(PARTITIONS)))
        await cluster.publish(10, 0)
        await until(lambda: b.owner.stats.held_dropped >= 7 * PARTITIONS)
        assert b.handled == []  # nothing handled without the lease

        standby_s = cluster.members.membership("b").standby_s
        await until(lambda: b.owner.stats.abandoned >= PARTITIONS, timeout_s=standby_s + 1.0)
        assert {p for _, p in cluster.handling.abandoned} == set(range(PARTITIONS))
        await until(lambda: b.owner.standing_by == frozenset(range(PARTITIONS)))  # afresh

        await cluster.publish(10, 10)
        for k in range(PARTITIONS):
            await cluster.leases.release(cluster.plan.lease_of(k), holder)
        await until(lambda: balanced(b))
        await until(lambda: len(b.handled) == 3 * PARTITIONS)
        for k in range(PARTITIONS):  # the last three held, in order
            assert [n for p, n in b.handled if p == k] == [17, 18, 19]
        assert cluster.handling.without_lease == []
        await b.owner.stop()
