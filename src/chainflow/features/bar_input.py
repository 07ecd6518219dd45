"""Where the features service's bars come from: every partition, or this replica's share.

In one process (no ``Membership``) one durable consumer ``features`` reads every bar
(``bridge.bars.>``). With replicas, a ``PartitionOwner`` gives this process its share of
the bar partitions (partitioned by tenant, see ``bridge.events.bars_topic``), each read by
the durable consumer ``features-p<k>``; ``on_partition`` runs when a partition is taken or
given up, so that the service drops what it kept of those tenants and rebuilds them from
the stores on their first bar here.
"""

from __future__ import annotations

from chainflow.bridge.api import all_bars, bars_of_partition
from chainflow.hub.api import (
    EventBus,
    Membership,
    MessageHandler,
    PartitionHook,
    PartitionOwner,
    PartitionPlan,
    Subscription,
    partition_of,
)

SERVICE = "features"
DURABLE_NAME = "features"


class BarInput:
    """The bar subscription(s) of one features process."""

    def __init__(
        self,
        *,
        bus: EventBus,
        handler: MessageHandler,
        membership: Membership | None,
        on_partition: PartitionHook,
    ) -> None:
        self._bus = bus
        self._handler = handler
        self._membership = membership
        self._on_partition = on_partition
        self._subscription: Subscription | None = None
        self.owner: PartitionOwner | None = None

    def partition_of(self, tenant_id: str) -> int:
        return partition_of(tenant_id, partitions=self._bus.partitions)

    def owns_tenant(self, tenant_id: str) -> bool:
        """Return whether this process consumes the bars of ``tenant_id`` now."""
        if self.owner is None:
            return True
        return self.owner.owns(self.partition_of(tenant_id))

    async def start(self) -> None:
        if self._membership is None:
            self._subscription = await self._bus.subscribe(
                all_bars(), self._handler, durable=DURABLE_NAME
            )
            return
        plan = PartitionPlan(
            service=SERVICE,
            durable=DURABLE_NAME,
            partitions=self._bus.partitions,
            subject=bars_of_partition,
        )
        self.owner = PartitionOwner(
            plan,
            self._handler,
            bus=self._bus,
            membership=self._membership,
            on_acquire=self._on_partition,
            on_release=self._on_partition,
        )
        await self.owner.start()

    async def stop(self, *, release: bool = True) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        if self.owner is not None:
            await self.owner.stop(release=release)
