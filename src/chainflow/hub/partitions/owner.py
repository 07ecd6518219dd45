"""The partition owner: one replica's share of a keyed stream, consumed with exclusive leases.

Every ``interval_s`` (the registry heartbeat) a round reads the live members of the
service from the registry (plus this replica, registered or not yet), computes this
replica's partitions with ``assign``, renews the leases it holds, releases the partitions
no longer its own, and acquires the free leases of the ones it should own, retrying every
quarter interval while a previous owner still holds one. Partition ``k`` is consumed by the
durable consumer ``<durable>-p<k>`` on ``subject(k)``, one fetcher at a time and one
message in flight (``max_in_flight=1``: JetStream's ``max_ack_pending``), so a key's
messages are processed in order by one replica, and in order across a change of owner: the
next owner gets the next message only once the previous owner settled its last one. After a
crash the next owner ``reclaim``s the durable as it takes the lease, so the dead owner's
unsettled message comes again at once instead of after its ack wait.

Releasing a partition stops taking its messages (one that arrives meanwhile is nakked for
the next owner), waits for the message in flight to be processed and acked, unsubscribes,
lets the service forget that partition's state (``on_release``), then frees the lease. A
lease that could not be renewed (someone else holds it, or the lease store is unreachable
for ``lease_ttl_s - interval_s``) stops its partition at once, without waiting for the
message in flight: the replica fences itself before the lease can expire under it, and
``serves(partition)`` turns false so that a service holding the message (queued for a
batch) gives it up, nakked for the next owner, rather than serve it late. A replica that
dies keeps its leases until they expire: survivors take its partitions within
``lease_ttl_s + interval_s`` of its death (``takeover_bound_s``), plus the rebuild of the
moved keys.

**Handover of live partitions** (``handover=True``; the tick path's ephemeral ticks): the
next owner stands by, subscribed, before it holds the lease, and the previous owner waits
for it before it unsubscribes, so that no message falls between them (``handover``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chainflow.core.errors import DependencyUnavailable
from chainflow.core.logging import get_logger
from chainflow.hub.partitions.assignment import assign
from chainflow.hub.partitions.handover import DEFAULT_MAX_HELD, Handover, HeldHook, StandbyPartition
from chainflow.hub.partitions.leases import LeaseStore

if TYPE_CHECKING:
    from chainflow.hub.api import (
        BusMessage,
        EventBus,
        MessageHandler,
        ServiceRegistry,
        Subscription,
    )

log = get_logger("chainflow.hub.partitions")

PartitionHook = Callable[[int], Awaitable[None]]
RETRY_FRACTION = 0.25  # of the interval, while a desired lease is still held elsewhere
MAX_IN_FLIGHT = 1  # per partition: its order holds across a change of owner
HANDOVER_WAIT_FRACTION = 0.5  # of the lease's margin (TTL - interval), at most 2 intervals


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    """What is partitioned: the service whose live instances share the partitions, the base
    durable name, the partition count and the subject pattern of each partition."""

    service: str
    durable: str
    partitions: int
    subject: Callable[[int], str]

    def durable_of(self, partition: int) -> str:
        return f"{self.durable}-p{partition}"

    def lease_of(self, partition: int) -> str:
        return f"{self.durable}:p{partition}"

    def standby_of(self, partition: int) -> str:
        """The lease a next owner takes once it stands by for ``partition`` (subscribed)."""
        return f"{self.lease_of(partition)}:next"


@dataclass(frozen=True, slots=True)
class Membership:
    """Where a replica finds its peers and its leases, and how often it looks."""

    registry: ServiceRegistry
    leases: LeaseStore
    instance_id: str
    interval_s: float
    lease_ttl_s: float

    @property
    def takeover_bound_s(self) -> float:
        """How long after a replica dies its partitions are consumed again (at most)."""
        return self.lease_ttl_s + self.interval_s

    @property
    def handover_wait_s(self) -> float:
        """How long a giver waits for the next owner's stand-by (live partitions): the next
        owner sees the change at its next round; bounded so that the giver's own leases
        are renewed in time."""
        margin_s = self.lease_ttl_s - self.interval_s
        return min(2 * self.interval_s, margin_s * HANDOVER_WAIT_FRACTION)

    @property
    def standby_s(self) -> float:
        """How long a stand-by may wait for its lease (a clean handover takes one round and
        a drain; a dead owner's lease runs out within ``takeover_bound_s``)."""
        return self.takeover_bound_s + self.interval_s


@dataclass(eq=False)
class OwnedPartition:
    partition: int
    subscription: Subscription | None = None
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)
    releasing: bool = False
    unsubscribing: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class OwnerStats:
    acquired: int = 0
    released: int = 0
    lost: int = 0
    rounds: int = 0
    failed_rounds: int = 0
    standbys: int = 0  # partitions subscribed before their lease (handover)
    abandoned: int = 0  # stand-bys given up without the lease
    held: int = 0  # messages held while standing by, handled once the lease was ours
    held_dropped: int = 0  # over ``max_held`` or abandoned
    reclaimed: int = 0  # deliveries left unsettled by a previous owner, delivered again
    handovers_unconfirmed: int = 0  # given up without the next owner's stand-by mark


class PartitionOwner:
    """Consume this replica's share of ``plan``'s partitions; see the module doc."""

    def __init__(
        self,
        plan: PartitionPlan,
        handler: MessageHandler,
        *,
        bus: EventBus,
        membership: Membership,
        on_acquire: PartitionHook | None = None,
        on_release: PartitionHook | None = None,
        handover: bool = False,
        max_held: int = DEFAULT_MAX_HELD,
        on_held: HeldHook | None = None,
        on_abandon: PartitionHook | None = None,
    ) -> None:
        """``handover`` (live subscriptions only, never durable consumers): stand by for a
        partition before its lease and wait for the next owner's stand-by when giving one
        up (module doc); ``max_held``, ``on_held`` and ``on_abandon`` apply to it."""
        if membership.lease_ttl_s <= membership.interval_s:
            raise ValueError(
                "the lease TTL must exceed the renewal interval; received "
                f"ttl {membership.lease_ttl_s} s, interval {membership.interval_s} s"
            )
        self._plan = plan
        self._handler = handler
        self._bus = bus
        self._membership = membership
        self._on_acquire = on_acquire
        self._on_release = on_release
        self._slots: dict[int, OwnedPartition] = {}
        self._draining: set[int] = set()  # released cleanly, the message in flight finishing
        self._round_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._renew_started_s: float | None = None
        self.stats = OwnerStats()
        self._handover = (
            Handover(
                plan,
                bus=bus,
                membership=membership,
                stats=self.stats,
                deliver=self._deliver,
                max_held=max_held,
                on_held=on_held,
                on_abandon=on_abandon,
            )
            if handover
            else None
        )

    @property
    def owned(self) -> frozenset[int]:
        return frozenset(self._slots)

    @property
    def standing_by(self) -> frozenset[int]:
        """The partitions subscribed before their lease (``handover``)."""
        return frozenset() if self._handover is None else self._handover.partitions

    def owns(self, partition: int) -> bool:
        return partition in self._slots

    def serves(self, partition: int) -> bool:
        """Return whether a message of ``partition`` this replica holds may still be served:
        the partition is owned, or released cleanly with its message in flight finishing;
        false once its lease is lost or the replica stops without releasing (a crash)."""
        return partition in self._slots or partition in self._draining

    async def start(self) -> None:
        """Run a first round (subscribing the free partitions of this replica), then loop."""
        await self.rebalance()
        self._loop_task = asyncio.create_task(self._run(), name=f"partitions:{self._plan.durable}")

    async def stop(self, *, release: bool = True) -> None:
        """Stop the rounds and every partition. With ``release`` (a clean stop) in-flight
        messages finish and the leases are freed for the survivors at once; without it (a
        crash, in tests) deliveries are cut off and the leases left to expire."""
        self._stopping.set()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        async with self._round_lock:
            handover = self._handover
            if release and handover and self._slots and await handover.has_peers():
                await self._renew_or_fence()  # the wait for the next owners is in the lease
                await handover.await_next_owners(sorted(self._slots))
            for partition in sorted(self._slots):
                await self._drop(partition, release_lease=release, drain=release)
            if handover is not None:
                await handover.abandon_all(release_marks=release)

    async def rebalance(self) -> bool:
        """Run one round; return whether a desired partition still waits for its lease."""
        async with self._round_lock:
            if self._stopping.is_set():
                return False
            self.stats.rounds += 1
            before = self.owned
            try:
                return await self._round()
            finally:
                if self.owned != before:
                    log.info(
                        "partitions_moved",
                        durable=self._plan.durable,
                        instance_id=self._membership.instance_id,
                        taken=sorted(self.owned - before),
                        given_up=sorted(before - self.owned),
                    )

    async def _run(self) -> None:
        interval_s = self._membership.interval_s
        waiting = False
        while not self._stopping.is_set():
            delay_s = interval_s * RETRY_FRACTION if waiting else interval_s
            try:
                await asyncio.wait_for(self._stopping.wait(), delay_s)
                return
            except TimeoutError:
                pass
            try:
                waiting = await self.rebalance()
            except Exception as e:  # keep the rounds going: the next one may succeed
                self.stats.failed_rounds += 1
                log.error("partition_round_failed", durable=self._plan.durable, error=repr(e))

    async def _round(self) -> bool:
        membership = self._membership
        me = membership.instance_id
        try:
            live = await membership.registry.discover(self._plan.service)
            members: set[str] | None = {i.instance_id for i in live} | {me}
        except DependencyUnavailable as e:
            log.warning("partition_members_unknown", durable=self._plan.durable, error=str(e))
            members = None
        await self._renew_or_fence()
        if members is None:
            return False  # keep what we own (its leases renewed) until the registry is back
        desired = assign(self._plan.partitions, members).get(me, frozenset())
        given_up = sorted(self.owned - desired)
        handover = self._handover
        if given_up and handover is not None:
            await handover.await_next_owners(given_up)
        for partition in given_up:
            await self._drop(partition, release_lease=True, drain=True)
        if handover is not None:
            await handover.expire(desired)
        waiting = False
        for partition in sorted(desired - self.owned):
            try:
                acquired = await membership.leases.acquire(
                    self._plan.lease_of(partition), me, membership.lease_ttl_s
                )
            except DependencyUnavailable:
                return True
            if acquired:
                await self._take(partition)
            else:
                waiting = True  # its previous owner has not released it yet
                if handover is not None:
                    await handover.stand_by(partition)
        return waiting

    async def _renew_or_fence(self) -> None:
        membership = self._membership
        loop = asyncio.get_running_loop()
        started_s = loop.time()
        lost: list[int] = []
        try:
            for partition in sorted(self._slots):
                renewed = await membership.leases.renew(
                    self._plan.lease_of(partition), membership.instance_id, membership.lease_ttl_s
                )
                if not renewed:
                    lost.append(partition)
            self._renew_started_s = started_s
        except DependencyUnavailable as e:
            last_s = self._renew_started_s
            unsafe_after_s = membership.lease_ttl_s - membership.interval_s
            if last_s is None or started_s - last_s >= unsafe_after_s:
                lost = sorted(self._slots)  # the leases may expire before the next round
            log.warning(
                "partition_leases_not_renewed",
                durable=self._plan.durable,
                error=str(e),
                fenced=len(lost),
            )
        for partition in lost:
            self.stats.lost += 1
            await self._drop(partition, release_lease=False, drain=False)

    async def _take(self, partition: int) -> None:
        plan = self._plan
        standby = None if self._handover is None else self._handover.take(partition)
        if self._on_acquire is not None:
            await self._on_acquire(partition)
        if standby is not None:
            await self._take_standby(standby)
            return
        slot = OwnedPartition(partition)
        try:
            await self._reclaim(partition)
            slot.subscription = await self._bus.subscribe(
                plan.subject(partition),
                functools.partial(self._deliver, slot),
                durable=plan.durable_of(partition),
                max_in_flight=MAX_IN_FLIGHT,
            )
        except DependencyUnavailable as e:
            log.warning("partition_subscribe_failed", durable=plan.durable, error=str(e))
            await self._release_lease(partition)
            return
        self._slots[partition] = slot
        self.stats.acquired += 1

    async def _reclaim(self, partition: int) -> None:
        """The lease is ours, so a delivery of the partition still unsettled belongs to a
        previous owner that died or was fenced (a clean release settles its message in
        flight before it frees the lease): have it delivered again now, not after the ack
        wait (30 s by default) that would hold the whole partition back."""
        durable = self._plan.durable_of(partition)
        reclaimed = await self._bus.reclaim(durable)
        if reclaimed:
            self.stats.reclaimed += reclaimed
            log.info(
                "partition_deliveries_reclaimed",
                durable=durable,
                instance_id=self._membership.instance_id,
                reclaimed=reclaimed,
            )

    async def _take_standby(self, standby: StandbyPartition) -> None:
        """The lease is ours: handle what was held, in arrival order, then go live."""
        slot = OwnedPartition(standby.partition, subscription=standby.subscription)
        self._slots[standby.partition] = slot
        self.stats.acquired += 1
        standby.slot = slot  # from now on a message arriving is queued behind the held ones
        while standby.held and not slot.releasing:
            message = standby.held.popleft()
            self.stats.held += 1
            await self._deliver(slot, message)
        standby.held.clear()  # what is left when the partition was lost meanwhile
        if self._handover is not None:
            await self._handover.release_mark(standby.partition)

    async def _deliver(self, slot: OwnedPartition, message: BusMessage) -> None:
        async with slot.busy:
            if not slot.releasing:
                await self._handler(message)
                await message.ack()  # settled before a release may unsubscribe
                return
        # Released meanwhile: the message is the next owner's. It stays unsettled until the
        # subscription stops; a nak now would have the bus hand it straight back to this
        # subscription, round after round (each counting toward max_deliver), while the
        # release waits for the message in flight.
        await slot.unsubscribing.wait()
        await message.nak()

    async def _drop(self, partition: int, *, release_lease: bool, drain: bool) -> None:
        slot = self._slots.pop(partition, None)
        if slot is None:
            return
        slot.releasing = True
        if drain:
            self._draining.add(partition)
            try:
                async with slot.busy:
                    pass  # the message in flight is processed and acked
            finally:
                self._draining.discard(partition)
        slot.unsubscribing.set()
        if slot.subscription is not None:
            await slot.subscription.unsubscribe()  # a message in flight is nakked
        if self._on_release is not None:
            try:
                await self._on_release(partition)
            except Exception as e:
                log.error("partition_release_hook_failed", partition=partition, error=repr(e))
        if release_lease:
            await self._release_lease(partition)
        self.stats.released += 1

    async def _release_lease(self, partition: int) -> None:
        membership = self._membership
        try:
            await membership.leases.release(self._plan.lease_of(partition), membership.instance_id)
        except DependencyUnavailable as e:  # it expires after its TTL instead
            log.warning("partition_lease_not_released", partition=partition, error=str(e))
