"""The tick hot path's input: every market event in one process, or this replica's partitions.

In one process (no ``Membership``) one live subscription to ``bridge.>`` takes every tick,
bar, execution and hello, as before replicas existed; on the in-process bus it runs in the
publisher's turn (``hub.api.subscribe_in_turn``), so that a tick reaches the tick path
without waiting for another turn of the event loop. With replicas, a hub
``PartitionOwner`` shares the tenant partitions of the ticks and bars between the live
``trading`` instances (rendezvous assignment, one Redis lease per partition) and this
replica subscribes to ``bridge.*.p<k>.>`` of each partition it owns: one subscription per
partition keeps a bar and the ticks after it in order. Executions and hellos are not
partitioned and come on their own subscriptions.

Ticks stay ephemeral: the subscriptions are live (core NATS, at most once), never durable
consumers. A tick signal is worth something for a second; a durable consumer would replay
a partition's backlog of old ticks to its next owner (the time-series store keeps them).
The owner is given a view of the bus whose ``subscribe`` drops the durable name
(``LiveDeliveries``); its ``ack``/``nak`` of live messages do nothing.

**Who answers.** ``answers(tenant)`` says whether this replica may answer a tenant's ticks
now: its partition was taken (lease acquired) and not yet given up. Only the holder of a
partition's lease answers its ticks; a partition whose lease could not be renewed is
refused at once (its queued ticks dropped unanswered, since another replica may hold it).

**Handover without a gap** (join, clean stop). The subscriptions are live, so the giver's
and the taker's must overlap: the owner runs with ``handover`` (``hub`` partitions owner).
The taker learns from the plan (rendezvous over the live members) which partitions it is
about to own and subscribes to them at once, before it holds their leases (a stand-by):
their ticks are held, not answered, and the keys of those ticks start warming from the
stored bars meanwhile (``on_standby_tick``). The giver waits for the taker's stand-by mark
before it unsubscribes, then answers what it had queued while its lease is still held
(checked by renewing it), forgets the keys and frees the lease. The taker, holding the
lease, queues what it held in arrival order (so each key's ticks are answered in order)
and goes on live. Ticks both replicas saw are answered by both, each under its own lease:
the giver first, then the taker (a ``hold`` ``warming`` when its key was not ready), and
the bridge forwards a ``seq`` once (``bridge.signal_forward``: not newer, dropped), so the
terminal sees each tick's answer once. Chosen over a giver that keeps its subscription
until the taker confirms its own: the taker may answer only under the lease, which the
giver frees last, so it must hold ticks between its subscribe and its lease in either
design; the stand-by is that holding, and its mark is the confirmation. A stand-by holds at
most ``MAX_HELD`` ticks per partition and is dropped when the lease does not come within
``Membership.standby_s``. A kill is not a handover: the survivors learn of it only when its
registry entry expires, and take its partitions when its leases expire
(``Membership.takeover_bound_s``); the ticks of that interval go unanswered, or are
answered late by a survivor that stood by before the lease ran out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from chainflow.bridge.api import (
    TicksAccepted,
    all_executions,
    all_market_events,
    all_symbols_declared,
    market_event_kind,
    market_events_of_partition,
)
from chainflow.core.errors import DependencyUnavailable
from chainflow.core.health import HealthReport
from chainflow.hub.api import (
    BusMessage,
    EventBus,
    Membership,
    MessageHandler,
    PartitionOwner,
    PartitionPlan,
    RequestHandler,
    Subscription,
    partition_of,
    subscribe_in_turn,
)

SERVICE = "trading"
PLAN_NAME = "trading-ticks"  # lease names trading-ticks:p<k>
DRAIN_FRACTION = 0.25  # of lease TTL - interval, per partition given up
MAX_HELD = 5_000  # ticks and bars held per partition while standing by for its lease

PartitionDrain = Callable[[int, bool], Awaitable[None]]
"""Called with a partition given up and whether its lease was still held: answer (when
held) or drop its queued ticks, then forget its keys."""

PartitionTaken = Callable[[int], Awaitable[None]]
"""Called with a partition whose lease was just acquired, before its first tick is run."""


class PartitionFollower(Protocol):
    """What follows the tick partitions (the bar-close path: its predictions, the paper
    books and strategy states of the partition's tenants)."""

    async def taken(self, partition: int) -> None:
        """The partition's lease was acquired; its ticks are answered from now on."""
        ...

    async def given_up(self, partition: int, held: bool) -> None:
        """The partition's queued ticks were answered (or dropped when the lease was no
        longer ``held``); its lease is freed after this returns."""
        ...


StandbyTick = Callable[[str, str, int], Awaitable[None]]
"""Called with the tenant, symbol and first tick time of a key first seen in a stand-by:
start warming the key."""


class LiveDeliveries:
    """The bus as the partition owner sees it: every subscription live, never durable."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
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
        await self._bus.publish(subject, data, headers=headers)

    async def subscribe(
        self,
        subject: str,
        handler: MessageHandler,
        *,
        durable: str | None = None,
        max_in_flight: int | None = None,
    ) -> Subscription:
        """Subscribe live: the durable name and its in-flight bound do not apply."""
        return await self._bus.subscribe(subject, handler)  # ticks are ephemeral

    async def reclaim(self, durable: str) -> int:
        """Take nothing back: live ticks are never held unsettled."""
        return 0

    async def request(self, subject: str, data: bytes, *, timeout_s: float | None = None) -> bytes:
        return await self._bus.request(subject, data, timeout_s=timeout_s)

    async def serve(self, subject: str, handler: RequestHandler) -> Subscription:
        return await self._bus.serve(subject, handler)


class TickInput:
    """The market-event subscriptions of one tick path; see the module doc."""

    def __init__(
        self,
        *,
        bus: EventBus,
        handler: MessageHandler,
        membership: Membership | None,
        forget: Callable[[int], None],
        on_given_up: PartitionDrain,
        on_taken: PartitionTaken | None = None,
        on_standby_tick: StandbyTick | None = None,
    ) -> None:
        self._bus = bus
        self._on_taken = on_taken
        self._handler = handler
        self._membership = membership
        self._forget = forget
        self._on_given_up = on_given_up
        self._on_standby_tick = on_standby_tick
        self._warming: dict[int, set[tuple[str, str]]] = {}  # stand-by keys warming
        self._plan = PartitionPlan(
            service=SERVICE,
            durable=PLAN_NAME,
            partitions=bus.partitions,
            subject=market_events_of_partition,
        )
        self._subscriptions: list[Subscription] = []
        self._partition_of: dict[str, int] = {}
        # None in one process (every tenant is answered); else the partitions answered now.
        self.answering: set[int] | None = None if membership is None else set()
        self.owner: PartitionOwner | None = None
        self._crashed = False
        # How long a partition given up may wait for its queued ticks to be answered: a
        # fraction of the lease's margin, since the owner's round (and the renewal of the
        # other leases) waits meanwhile; what is still queued then goes unanswered.
        self.drain_s = 0.0
        if membership is not None:
            self.drain_s = (membership.lease_ttl_s - membership.interval_s) * DRAIN_FRACTION

    @property
    def partitions(self) -> int:
        return self._plan.partitions

    def partition_of(self, tenant_id: str) -> int:
        """Return the tenant's partition (hashed once per tenant)."""
        partition = self._partition_of.get(tenant_id)
        if partition is None:
            partition = partition_of(tenant_id, partitions=self._plan.partitions)
            self._partition_of[tenant_id] = partition
        return partition

    def answers(self, tenant_id: str) -> bool:
        """Return whether this replica may answer ``tenant_id``'s ticks now."""
        answering = self.answering
        return answering is None or self.partition_of(tenant_id) in answering

    async def start(self) -> None:
        if self._membership is None:
            self._subscriptions.append(
                await subscribe_in_turn(self._bus, all_market_events(), self._handler)
            )
            return
        for subject in (all_executions(), all_symbols_declared()):
            self._subscriptions.append(await self._bus.subscribe(subject, self._handler))
        self.owner = PartitionOwner(
            self._plan,
            self._handler,
            bus=LiveDeliveries(self._bus),
            membership=self._membership,
            on_acquire=self._taken,
            on_release=self._given_up,
            handover=True,
            max_held=MAX_HELD,
            on_held=self._held,
            on_abandon=self._abandoned,
        )
        await self.owner.start()

    async def stop(self, *, release: bool = True) -> None:
        """Stop reading (``release=False``: leave the leases to expire, as a crash would)."""
        self._crashed = not release
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        self._subscriptions.clear()
        if self.owner is not None:
            await self.owner.stop(release=release)
            self.owner = None

    async def _taken(self, partition: int) -> None:
        """The lease is ours: answer the partition from its first tick on (what a stand-by
        held first); keys warmed during a stand-by are kept, anything else forgotten."""
        if self._warming.pop(partition, None) is None:
            self._forget(partition)
        if self._on_taken is not None:
            await self._on_taken(partition)
        if self.answering is not None:
            self.answering.add(partition)

    async def _held(self, partition: int, message: BusMessage) -> None:
        """A tick held by a stand-by: start warming its key (once per key)."""
        if self._on_standby_tick is None or market_event_kind(message.subject) != "ticks":
            return
        event = TicksAccepted.from_json(message.data)
        keys = self._warming.setdefault(partition, set())
        key = (event.tenant_id, event.symbol)
        if key not in keys:
            keys.add(key)
            await self._on_standby_tick(event.tenant_id, event.symbol, event.ticks[0].ts)

    async def _abandoned(self, partition: int) -> None:
        """A stand-by dropped without the lease: forget the keys it warmed."""
        self._warming.pop(partition, None)
        self._forget(partition)

    async def _given_up(self, partition: int) -> None:
        """Unsubscribed; the lease is not yet released: answer what was queued if it is
        still ours, then forget the partition."""
        held = await self._still_held(partition)
        if not held and self.answering is not None:
            self.answering.discard(partition)  # another replica may answer it already
        try:
            await self._on_given_up(partition, held)
        finally:
            if self.answering is not None:
                self.answering.discard(partition)

    async def _still_held(self, partition: int) -> bool:
        membership = self._membership
        if membership is None:
            return True
        if self._crashed:
            return False  # a crash answers nothing more and renews nothing
        try:
            return await membership.leases.renew(
                self._plan.lease_of(partition), membership.instance_id, membership.lease_ttl_s
            )
        except DependencyUnavailable:
            return False
