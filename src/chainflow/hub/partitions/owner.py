"""The partition owner: one replica's share of a keyed stream, consumed with exclusive leases.

Every ``interval_s`` (the registry heartbeat) a round reads the live members of the
service from the registry (plus this replica, registered or not yet), computes this
replica's partitions with ``assign``, renews the leases it holds, releases the partitions
no longer its own, and acquires the free leases of the ones it should own, retrying every
quarter interval while a previous owner still holds one. Partition ``k`` is consumed by the
durable consumer ``<durable>-p<k>`` on ``subject(k)``, one fetcher at a time and one
message in flight (``max_in_flight=1``: JetStream's ``max_ack_pending``), so a key's
messages are processed in order by one replica, and in order across a change of owner: the
next owner gets the next message only once the previous owner settled its last one (or its
ack wait passed, after a crash).

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

**Handover of live partitions** (``handover=True``; the tick path's ephemeral ticks). A
durable consumer keeps what is published while a partition has no owner; a live
subscription does not, so the previous owner's unsubscribe and the next owner's subscribe
must overlap or the messages in between reach nobody. The next owner *stands by*: a round
that wants a partition whose lease is still held elsewhere subscribes to it at once and
holds its messages without handling them (at most ``max_held``, the oldest dropped first;
``on_held`` sees each, e.g. to warm the key meanwhile), then marks the lease
``<lease>:next`` (a lease of its own, renewed each round) once the subscription is made.
The previous owner, giving a partition up cleanly (a rebalance, a clean stop), waits for
that mark — at most ``handover_wait_s``, polling the lease store — before it stops taking
the partition's messages and unsubscribes. The next owner retries the lease every quarter
interval; when it holds it, it handles what it held, in arrival order, then takes the
messages live. Messages are handled only by the holder of the partition's lease; those both
replicas saw are handled twice, once by each (a live consumer must drop repeats: the tick
path's answers carry the tick's ``seq``, and the bridge forwards a ``seq`` once). A
stand-by not followed by the lease within ``standby_s`` (the previous owner does not give
it up: it disagrees on the members, or died and its lease runs out) drops what it held
(``on_abandon``) and starts afresh at the next round. Without the mark within the wait
(the next owner has not seen the change yet, or runs an older version) the previous owner
hands over as before, with a gap.

Why not the other way round (the previous owner keeps its subscription until the next one
confirms its own, with no stand-by): the previous owner can unsubscribe only once the next
owner subscribed, and the next owner may handle messages only once it holds the lease,
which the previous owner frees last; so the next owner must hold messages between its
subscribe and its lease anyway. The stand-by is that holding, and the mark is the
confirmation: one mechanism, both halves.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chainflow.core.errors import DependencyUnavailable
from chainflow.core.logging import get_logger
from chainflow.hub.partitions.assignment import assign
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
HeldHook = Callable[[int, "BusMessage"], Awaitable[None]]
RETRY_FRACTION = 0.25  # of the interval, while a desired lease is still held elsewhere
MAX_IN_FLIGHT = 1  # per partition: its order holds across a change of owner
DEFAULT_MAX_HELD = 10_000  # messages held per partition while standing by for its lease
HANDOVER_POLL_S = 0.02  # how often a giver looks for the next owner's stand-by mark
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


@dataclass(eq=False)
class StandbyPartition:
    """A partition subscribed before its lease is ours: its messages held until then."""

    partition: int
    since_s: float
    subscription: Subscription | None = None
    held: deque[BusMessage] = field(default_factory=deque)
    slot: OwnedPartition | None = None  # set once the lease is ours: messages go live


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
        if max_held < 1:
            raise ValueError(f"max_held must be at least 1; received {max_held}")
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
        self._handover = handover
        self._max_held = max_held
        self._on_held = on_held
        self._on_abandon = on_abandon
        self._slots: dict[int, OwnedPartition] = {}
        self._standbys: dict[int, StandbyPartition] = {}
        self._draining: set[int] = set()  # released cleanly, the message in flight finishing
        self._round_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._renew_started_s: float | None = None
        self.stats = OwnerStats()

    @property
    def owned(self) -> frozenset[int]:
        return frozenset(self._slots)

    @property
    def standing_by(self) -> frozenset[int]:
        """The partitions subscribed before their lease (``handover``)."""
        return frozenset(self._standbys)

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
            if release and self._handover and self._slots and await self._has_peers():
                await self._renew_or_fence()  # the wait for the next owners is in the lease
                await self._await_next_owners(sorted(self._slots))
            for partition in sorted(self._slots):
                await self._drop(partition, release_lease=release, drain=release)
            for partition in sorted(self._standbys):
                await self._abandon(partition, release_mark=release)

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
        if given_up and self._handover:
            await self._await_next_owners(given_up)
        for partition in given_up:
            await self._drop(partition, release_lease=True, drain=True)
        await self._expire_standbys(desired)
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
                if self._handover:
                    await self._stand_by(partition)
        return waiting

    async def _has_peers(self) -> bool:
        """Return whether another live member may take over (the last one waits for none)."""
        try:
            live = await self._membership.registry.discover(self._plan.service)
        except DependencyUnavailable:
            return False
        return any(i.instance_id != self._membership.instance_id for i in live)

    async def _await_next_owners(self, partitions: list[int]) -> None:
        """Wait (at most ``handover_wait_s``) until each of ``partitions`` has a next owner
        standing by, subscribed: only then may this replica unsubscribe from it."""
        membership = self._membership
        loop = asyncio.get_running_loop()
        deadline_s = loop.time() + membership.handover_wait_s
        pending = set(partitions)
        while pending:
            try:
                for partition in sorted(pending):
                    holder = await membership.leases.holder(self._plan.standby_of(partition))
                    if holder is not None and holder != membership.instance_id:
                        pending.discard(partition)
            except DependencyUnavailable:
                break  # hand over as without the stand-by
            if not pending or loop.time() >= deadline_s:
                break
            await asyncio.sleep(HANDOVER_POLL_S)
        if pending:
            self.stats.handovers_unconfirmed += len(pending)
            log.warning(
                "partition_handover_unconfirmed",
                durable=self._plan.durable,
                instance_id=membership.instance_id,
                partitions=sorted(pending),
            )

    async def _stand_by(self, partition: int) -> None:
        """Subscribe to a partition whose lease is held elsewhere, holding its messages;
        then mark (or renew) the stand-by for its current owner to see."""
        membership = self._membership
        standby = self._standbys.get(partition)
        if standby is None:
            standby = StandbyPartition(partition, asyncio.get_running_loop().time())
            try:
                standby.subscription = await self._bus.subscribe(
                    self._plan.subject(partition), functools.partial(self._hold, standby)
                )
            except DependencyUnavailable as e:
                log.warning("partition_standby_failed", durable=self._plan.durable, error=str(e))
                return
            self._standbys[partition] = standby
            self.stats.standbys += 1
        try:
            await membership.leases.acquire(
                self._plan.standby_of(partition), membership.instance_id, membership.lease_ttl_s
            )
        except DependencyUnavailable:
            pass  # the giver then hands over without waiting for us

    async def _hold(self, standby: StandbyPartition, message: BusMessage) -> None:
        slot = standby.slot
        if slot is not None and not standby.held:
            await self._deliver(slot, message)  # the lease is ours and what was held handled
            return
        standby.held.append(message)
        if len(standby.held) > self._max_held:
            standby.held.popleft()
            self.stats.held_dropped += 1
        if slot is None and self._on_held is not None:
            try:
                await self._on_held(standby.partition, message)
            except Exception as e:
                log.error("partition_held_hook_failed", partition=standby.partition, error=repr(e))

    async def _expire_standbys(self, desired: frozenset[int]) -> None:
        """Drop the stand-bys no longer wanted, or waiting longer than ``standby_s``."""
        now_s = asyncio.get_running_loop().time()
        for partition, standby in sorted(self._standbys.items()):
            too_long = now_s - standby.since_s > self._membership.standby_s
            if partition not in desired or too_long:
                await self._abandon(partition, release_mark=True)

    async def _abandon(self, partition: int, *, release_mark: bool) -> None:
        standby = self._standbys.pop(partition, None)
        if standby is None:
            return
        self.stats.abandoned += 1
        self.stats.held_dropped += len(standby.held)
        standby.held.clear()
        if standby.subscription is not None:
            await standby.subscription.unsubscribe()
        if self._on_abandon is not None:
            try:
                await self._on_abandon(partition)
            except Exception as e:
                log.error("partition_abandon_hook_failed", partition=partition, error=repr(e))
        if release_mark:
            await self._release_mark(partition)

    async def _release_mark(self, partition: int) -> None:
        membership = self._membership
        try:
            await membership.leases.release(
                self._plan.standby_of(partition), membership.instance_id
            )
        except DependencyUnavailable:
            pass  # it expires after its TTL

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
        standby = self._standbys.pop(partition, None)
        if self._on_acquire is not None:
            await self._on_acquire(partition)
        if standby is not None:
            await self._take_standby(standby)
            return
        slot = OwnedPartition(partition)
        try:
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
        await self._release_mark(standby.partition)

    async def _deliver(self, slot: OwnedPartition, message: BusMessage) -> None:
        if slot.releasing:
            await message.nak()  # for the partition's next owner
            return
        async with slot.busy:
            if slot.releasing:
                await message.nak()
                return
            await self._handler(message)
            await message.ack()  # settled before a release may unsubscribe

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
