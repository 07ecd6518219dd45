"""The input of a stateful consumer of a keyed stream: every partition, or this replica's share.

In one process (no ``Membership``) one durable consumer ``<durable>`` reads the whole stream
(``every``). With replicas, a ``PartitionOwner`` gives this process its share of the
partitions, each read by the durable consumer ``<durable>-p<k>`` on ``subject(k)``;
``on_partition`` runs when a partition is taken or given up, so that the service drops
what it kept of those keys and rebuilds them from the stores on their next message here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chainflow.hub.partitions.assignment import partition_of
from chainflow.hub.partitions.owner import Membership, PartitionHook, PartitionOwner, PartitionPlan

if TYPE_CHECKING:
    from chainflow.hub.api import EventBus, MessageHandler, Subscription


class KeyedInput:
    """The subscription(s) of one process to a stream partitioned by tenant."""

    def __init__(
        self,
        *,
        bus: EventBus,
        handler: MessageHandler,
        service: str,
        durable: str,
        every: str,
        subject: Callable[[int], str],
        membership: Membership | None,
        on_partition: PartitionHook,
    ) -> None:
        self._bus = bus
        self._handler = handler
        self._plan = PartitionPlan(
            service=service, durable=durable, partitions=bus.partitions, subject=subject
        )
        self._every = every
        self._membership = membership
        self._on_partition = on_partition
        self._subscription: Subscription | None = None
        self.owner: PartitionOwner | None = None

    def partition_of(self, tenant_id: str) -> int:
        return partition_of(tenant_id, partitions=self._plan.partitions)

    def owns_tenant(self, tenant_id: str) -> bool:
        """Return whether this process consumes the messages of ``tenant_id`` now."""
        if self.owner is None:
            return True
        return self.owner.owns(self.partition_of(tenant_id))

    def serves_tenant(self, tenant_id: str) -> bool:
        """Return whether a message of ``tenant_id`` this process holds may still be served
        (``PartitionOwner.serves``: false once its partition's lease is lost or the process
        stops without releasing it)."""
        if self.owner is None:
            return True
        return self.owner.serves(self.partition_of(tenant_id))

    async def start(self) -> None:
        if self._membership is None:
            self._subscription = await self._bus.subscribe(
                self._every, self._handler, durable=self._plan.durable
            )
            return
        self.owner = PartitionOwner(
            self._plan,
            self._handler,
            bus=self._bus,
            membership=self._membership,
            on_acquire=self._on_partition,
            on_release=self._on_partition,
        )
        await self.owner.start()

    async def stop(self, *, release: bool = True) -> None:
        """Stop reading (``release=False``: leave the leases to expire, as a crash would)."""
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        if self.owner is not None:
            await self.owner.stop(release=release)
