"""The stand-by half of a live partition's handover (``PartitionOwner(handover=True)``).

A durable consumer keeps what is published while a partition has no owner; a live
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

if TYPE_CHECKING:
    from chainflow.hub.api import BusMessage, EventBus, Subscription
    from chainflow.hub.partitions.owner import (
        Membership,
        OwnedPartition,
        OwnerStats,
        PartitionHook,
        PartitionPlan,
    )

log = get_logger("chainflow.hub.partitions")

HeldHook = Callable[[int, "BusMessage"], Awaitable[None]]
Deliver = Callable[["OwnedPartition", "BusMessage"], Awaitable[None]]
DEFAULT_MAX_HELD = 10_000  # messages held per partition while standing by for its lease
HANDOVER_POLL_S = 0.02  # how often a giver looks for the next owner's stand-by mark


@dataclass(eq=False)
class StandbyPartition:
    """A partition subscribed before its lease is ours: its messages held until then."""

    partition: int
    since_s: float
    subscription: Subscription | None = None
    held: deque[BusMessage] = field(default_factory=deque)
    slot: OwnedPartition | None = None  # set once the lease is ours: messages go live


class Handover:
    """One owner's stand-bys and its wait for the next owners; see the module doc."""

    def __init__(
        self,
        plan: PartitionPlan,
        *,
        bus: EventBus,
        membership: Membership,
        stats: OwnerStats,
        deliver: Deliver,
        max_held: int = DEFAULT_MAX_HELD,
        on_held: HeldHook | None = None,
        on_abandon: PartitionHook | None = None,
    ) -> None:
        if max_held < 1:
            raise ValueError(f"max_held must be at least 1; received {max_held}")
        self._plan = plan
        self._bus = bus
        self._membership = membership
        self._stats = stats
        self._deliver = deliver
        self._max_held = max_held
        self._on_held = on_held
        self._on_abandon = on_abandon
        self._standbys: dict[int, StandbyPartition] = {}

    @property
    def partitions(self) -> frozenset[int]:
        """The partitions subscribed before their lease."""
        return frozenset(self._standbys)

    def take(self, partition: int) -> StandbyPartition | None:
        """Return (and forget) the stand-by of a partition whose lease is now ours."""
        return self._standbys.pop(partition, None)

    async def has_peers(self) -> bool:
        """Return whether another live member may take over (the last one waits for none)."""
        try:
            live = await self._membership.registry.discover(self._plan.service)
        except DependencyUnavailable:
            return False
        return any(i.instance_id != self._membership.instance_id for i in live)

    async def await_next_owners(self, partitions: list[int]) -> None:
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
            self._stats.handovers_unconfirmed += len(pending)
            log.warning(
                "partition_handover_unconfirmed",
                durable=self._plan.durable,
                instance_id=membership.instance_id,
                partitions=sorted(pending),
            )

    async def stand_by(self, partition: int) -> None:
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
            self._stats.standbys += 1
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
            self._stats.held_dropped += 1
        if slot is None and self._on_held is not None:
            try:
                await self._on_held(standby.partition, message)
            except Exception as e:
                log.error("partition_held_hook_failed", partition=standby.partition, error=repr(e))

    async def expire(self, desired: frozenset[int]) -> None:
        """Drop the stand-bys no longer wanted, or waiting longer than ``standby_s``."""
        now_s = asyncio.get_running_loop().time()
        for partition, standby in sorted(self._standbys.items()):
            too_long = now_s - standby.since_s > self._membership.standby_s
            if partition not in desired or too_long:
                await self.abandon(partition, release_mark=True)

    async def abandon_all(self, *, release_marks: bool) -> None:
        """Give up every stand-by (the owner stops)."""
        for partition in sorted(self._standbys):
            await self.abandon(partition, release_mark=release_marks)

    async def abandon(self, partition: int, *, release_mark: bool) -> None:
        """Unsubscribe a stand-by and drop what it held (``on_abandon``)."""
        standby = self._standbys.pop(partition, None)
        if standby is None:
            return
        self._stats.abandoned += 1
        self._stats.held_dropped += len(standby.held)
        standby.held.clear()
        if standby.subscription is not None:
            await standby.subscription.unsubscribe()
        if self._on_abandon is not None:
            try:
                await self._on_abandon(partition)
            except Exception as e:
                log.error("partition_abandon_hook_failed", partition=partition, error=repr(e))
        if release_mark:
            await self.release_mark(partition)

    async def release_mark(self, partition: int) -> None:
        membership = self._membership
        try:
            await membership.leases.release(
                self._plan.standby_of(partition), membership.instance_id
            )
        except DependencyUnavailable:
            pass  # it expires after its TTL
