"""The bar-close path's input: every prediction in one process, or this replica's partitions.

In one process (no ``Membership``) the durable consumer ``trading`` reads every
``predictions.>``, as before replicas existed.

With replicas the predictions follow the tick path's partitions (``trading.tick.partitions``):
the replica holding a tenant's tick lease (``trading-ticks:p<k>``) reads that tenant's
predictions too, through the durable consumer ``trading-p<k>`` on
``predictions.p<k>.*.*.*`` with one message in flight. So one replica at a time holds a
tenant's paper book and strategy states, and a key's predictions are run in order across
a change of owner: the next owner gets the partition's next prediction only once the
previous owner settled its last one.

- ``taken(k)`` (the lease was acquired) subscribes in the background, retrying every
  ``retry_s`` while the bus is unreachable, so that the tick path's handover does not
  wait for JetStream.
- ``given_up(k, held)`` (the partition's ticks were drained, the lease is not yet freed)
  unsubscribes: no further prediction is taken, and the one in flight is run to the end
  (stored, published, its paper order queued) and acked before this returns, within the
  bus's stop bound. ``serves`` turns false at once, so that a prediction in flight whose
  lease was lost is nakked for the next owner instead of being issued. The service then
  saves the partition's books and strategies and forgets them (``PaperStore.hand_over``).
- After a crash, the prediction the dead replica had in flight is redelivered to the next
  owner after the bus's ack wait (``CHAINFLOW_BUS_ACK_WAIT_S``), then the rest in order; a
  prediction already run before the last save is ignored (the key's saved ``last_ts``),
  and a signal already stored for its bar is not stored or published again
  (``TradingService``).
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass

from chainflow.core.errors import DependencyUnavailable
from chainflow.core.logging import get_logger
from chainflow.hub.api import (
    BusMessage,
    EventBus,
    Membership,
    MessageHandler,
    Subscription,
    partition_of,
    partition_token,
)
from chainflow.ml.api import all_predictions, predictions_of_partition

log = get_logger("chainflow.trading.predictions")

DURABLE_NAME = "trading"  # one process; replicas read trading-p<k>
MAX_IN_FLIGHT = 1  # per partition: a key's order holds across a change of owner
RETRY_S = 0.5


def durable_of(partition: int) -> str:
    return f"{DURABLE_NAME}-p{partition}"


@dataclass(slots=True)
class _Partition:
    partition: int
    subscription: Subscription | None = None
    subscribing: asyncio.Task[None] | None = None


class PredictionInput:
    """The prediction subscriptions of one trading process; see the module doc."""

    def __init__(
        self,
        *,
        bus: EventBus,
        handler: MessageHandler,
        membership: Membership | None,
        retry_s: float = RETRY_S,
    ) -> None:
        self._bus = bus
        self._handler = handler
        self._membership = membership
        self._retry_s = retry_s
        self._partitions = bus.partitions
        self._owned: dict[int, _Partition] = {}
        self._subscription: Subscription | None = None

    @property
    def partitioned(self) -> bool:
        return self._membership is not None

    def partition_of(self, tenant_id: str) -> int:
        return partition_of(tenant_id, partitions=self._partitions)

    def serves(self, tenant_id: str) -> bool:
        """Return whether this process may run ``tenant_id``'s predictions now."""
        return self._membership is None or self.partition_of(tenant_id) in self._owned

    def routed_to(self, subject: str, tenant_id: str) -> bool:
        """Return whether a prediction of ``tenant_id`` came on its own partition's subject
        (always, in one process). A misrouted one (a publisher on another partition count)
        would never be served here, nor by any replica: it is refused, not redelivered."""
        if self._membership is None:
            return True
        return subject.split(".")[1:2] == [partition_token(self.partition_of(tenant_id))]

    def owned(self) -> frozenset[int]:
        """Return the partitions whose predictions this process reads (replicas)."""
        return frozenset(self._owned)

    def subscribed(self) -> frozenset[int]:
        """Return the owned partitions whose consumer is subscribed (taken partitions
        subscribe in the background): their predictions are being read."""
        return frozenset(k for k, owned in self._owned.items() if owned.subscription is not None)

    async def start(self) -> None:
        if self._membership is None:
            self._subscription = await self._bus.subscribe(
                all_predictions(), self._handler, durable=DURABLE_NAME
            )

    async def stop(self) -> None:
        """Unsubscribe everything (the partitions are normally given up before this)."""
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        for partition in list(self._owned):
            await self.given_up(partition, True)

    async def taken(self, partition: int) -> None:
        if partition in self._owned:
            return
        owned = self._owned[partition] = _Partition(partition)
        owned.subscribing = asyncio.create_task(
            self._subscribe(owned), name=f"trading-predictions-p{partition}"
        )

    async def given_up(self, partition: int, held: bool) -> None:
        owned = self._owned.pop(partition, None)
        if owned is None:
            return
        if owned.subscribing is not None:
            owned.subscribing.cancel()
            await asyncio.gather(owned.subscribing, return_exceptions=True)
        if owned.subscription is not None:
            # Waits for the prediction in flight: run to the end when the lease is held,
            # nakked by the service when not (``serves`` is already false).
            await owned.subscription.unsubscribe()

    async def _subscribe(self, owned: _Partition) -> None:
        partition = owned.partition
        while True:
            try:
                owned.subscription = await self._bus.subscribe(
                    predictions_of_partition(partition),
                    functools.partial(self._deliver, owned),
                    durable=durable_of(partition),
                    max_in_flight=MAX_IN_FLIGHT,
                )
                return
            except DependencyUnavailable as e:
                log.warning("predictions_subscribe_failed", partition=partition, error=str(e))
                await asyncio.sleep(self._retry_s)

    async def _deliver(self, owned: _Partition, message: BusMessage) -> None:
        if self._owned.get(owned.partition) is not owned:
            await message.nak()  # given up meanwhile: for the partition's next owner
            return
        await self._handler(message)
