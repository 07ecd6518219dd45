"""The tick hot path's queue: one FIFO per tenant, served by deficit round robin.

Ticks and bars are queued per tenant in arrival order (a key's order is its tenant's);
``take_round`` hands out one round: each tenant with work gets up to ``quantum`` ticks'
worth of events (a bar event costs one), with the unused part of its quantum carried to
the next round while it still has work (deficit round robin, Shreedhar & Varghese). A
tenant replaying history at maximum speed then gets one quantum per round like any
other, and a live tenant's tick waits for at most one round, never behind the flood.
"""

from __future__ import annotations

from collections import deque

from chainflow.bridge.api import BarPublished, TicksAccepted
from chainflow.trading.errors import InvalidTradingConfigError

MarketEvent = TicksAccepted | BarPublished

DEFAULT_QUANTUM = 64  # ticks per tenant per round


def event_cost(event: MarketEvent) -> int:
    """Ticks an event counts for in a tenant's quantum (a bar counts one)."""
    return len(event.ticks) if isinstance(event, TicksAccepted) else 1


class FairTickQueue:
    """Per-tenant FIFOs of market events, taken in deficit-round-robin rounds."""

    def __init__(self, quantum: int = DEFAULT_QUANTUM) -> None:
        if quantum < 1:
            raise InvalidTradingConfigError(f"expected quantum >= 1; received {quantum}")
        self.quantum = quantum
        self._queues: dict[str, deque[MarketEvent]] = {}
        self._deficit: dict[str, int] = {}
        self._pending = 0

    def __len__(self) -> int:
        return self._pending

    def put(self, event: MarketEvent) -> None:
        """Queue ``event`` behind its tenant's earlier events."""
        queue = self._queues.get(event.tenant_id)
        if queue is None:
            queue = self._queues[event.tenant_id] = deque()
            self._deficit[event.tenant_id] = 0
        queue.append(event)
        self._pending += 1

    def pending_of(self, tenant_id: str) -> int:
        """Return how many events of ``tenant_id`` wait."""
        queue = self._queues.get(tenant_id)
        return len(queue) if queue is not None else 0

    def tenants(self) -> list[str]:
        """Return the tenants with events waiting."""
        return list(self._queues)

    def drop_tenants(self, tenant_ids: set[str]) -> int:
        """Forget the waiting events of ``tenant_ids`` (a partition given up); return how
        many there were."""
        dropped = 0
        for tenant_id in tenant_ids & self._queues.keys():
            dropped += len(self._queues.pop(tenant_id))
            del self._deficit[tenant_id]
        self._pending -= dropped
        return dropped

    def take_round(self) -> list[MarketEvent]:
        """Return one round: each waiting tenant's events within its deficit, in turn.

        A tenant whose next event costs more than its deficit gets nothing this round but
        keeps the deficit (it grows by ``quantum`` a round, so every event is served);
        a tenant whose queue empties leaves the rotation with its deficit reset.
        """
        batch: list[MarketEvent] = []
        for tenant_id in list(self._queues):
            queue = self._queues[tenant_id]
            deficit = self._deficit[tenant_id] + self.quantum
            while queue and event_cost(queue[0]) <= deficit:
                event = queue.popleft()
                deficit -= event_cost(event)
                batch.append(event)
            if queue:
                self._deficit[tenant_id] = deficit
            else:
                del self._queues[tenant_id]
                del self._deficit[tenant_id]
        self._pending -= len(batch)
        return batch
