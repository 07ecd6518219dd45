"""Public interface of the hub: the event bus and the service registry Protocols, and
partitioned streaming (``partition_of``, ``PartitionOwner``) built on both."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from chainflow.core.health import HealthReport
from chainflow.hub.partitions.assignment import assign, partition_of, partition_token
from chainflow.hub.partitions.keyed_input import KeyedInput
from chainflow.hub.partitions.leases import LeaseStore, open_leases
from chainflow.hub.partitions.owner import (
    Membership,
    PartitionHook,
    PartitionOwner,
    PartitionPlan,
)

# --- event bus -----------------------------------------------------------------------------


class BusMessage(Protocol):
    """One delivered message. ``ack``/``nak``/``term`` settle a durable delivery."""

    subject: str
    data: bytes
    headers: Mapping[str, str]
    delivery_count: int

    async def ack(self) -> None: ...

    async def nak(self, delay_s: float | None = None) -> None:
        """Ask for redelivery (after ``delay_s``)."""
        ...

    async def term(self) -> None:
        """Never redeliver this message."""
        ...


MessageHandler = Callable[[BusMessage], Awaitable[None]]

MESSAGE_ID_HEADER = "Nats-Msg-Id"
"""The header naming a message for the stream's duplicate detection (see ``EventBus``)."""
RequestHandler = Callable[[bytes], Awaitable[bytes]]


class Subscription(Protocol):
    async def unsubscribe(self) -> None: ...


@runtime_checkable
class EventBus(Protocol):
    """Publish/subscribe with durable consumers, plus request/reply.

    Contract (tests/contracts/test_bus.py):
    - ``subscribe(subject, handler)`` without ``durable``: live fan-out; every such subscriber
      gets each message published after it subscribed. ``*`` matches one token and ``>`` the
      rest, as in NATS.
    - ``subscribe(..., durable="name")``: a durable consumer. Messages published while no
      handler runs are kept and delivered when one subscribes with that name again;
      subscribers sharing a name share the work (each message to one of them). Delivery is
      at-least-once with explicit ack: a handler that returns acks, one that raises naks
      (redelivered, ``delivery_count`` increasing, up to ``max_deliver``), and a handler may
      settle explicitly with ``ack``/``nak``/``term`` first. ``max_in_flight`` bounds the
      durable's unsettled deliveries over all its subscribers (JetStream's
      ``max_ack_pending``); 1 keeps a partition in order across a change of subscriber: its
      next message waits until the previous one is settled or its ack wait passed.
    - ``reclaim(durable)``: for a caller that holds ``durable`` exclusively (a partition
      lease). Deliveries still unsettled by its earlier subscribers (a process killed while
      handling one) are taken back and delivered again at once, to the next subscriber,
      rather than after their ack wait. A late settlement by the earlier subscriber does not
      take the message from the next one (on NATS, where the consumer keeps its name, a late
      ack may settle the new delivery early: the message was handled by then). Returns how
      many were taken back (0 for an unknown durable).
    - A message published with the header ``MESSAGE_ID_HEADER`` is stored once per id within
      the stream's duplicate window on NATS (2 minutes, the server default), so a publish
      repeated after a crash reaches durable consumers once (live subscribers, at most once
      anyway, may see the repeat); the in-process bus, whose messages die with the
      process, does not deduplicate.
    - ``request`` sends to the one handler registered with ``serve`` on that subject and
      returns its reply; no responder or no reply in time raises ``DependencyUnavailable``.
    """

    backend: str
    partitions: int
    """How many partitions keyed subjects are spread over (``CHAINFLOW_BUS_PARTITIONS``)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def health(self) -> HealthReport: ...

    async def publish(
        self, subject: str, data: bytes, *, headers: Mapping[str, str] | None = None
    ) -> None: ...

    async def subscribe(
        self,
        subject: str,
        handler: MessageHandler,
        *,
        durable: str | None = None,
        max_in_flight: int | None = None,
    ) -> Subscription: ...

    async def reclaim(self, durable: str) -> int: ...

    async def request(
        self, subject: str, data: bytes, *, timeout_s: float | None = None
    ) -> bytes: ...

    async def serve(self, subject: str, handler: RequestHandler) -> Subscription: ...


@runtime_checkable
class InTurnDelivery(Protocol):
    """A bus that can run a live subscriber's handler in the publisher's turn.

    ``subscribe_in_turn(subject, handler)`` is a live subscription whose handler ``publish``
    awaits itself, after handing the message to the other subscribers, instead of a worker
    task taking it on a later turn of the event loop. For handlers that only hand the
    message on (a queue, a connection's outbox) or do short, bounded work: each task hop a
    message saves is one turn of the loop, and on a busy loop a turn lasts as long as all
    the work that became ready meanwhile. The handler's exception is logged, never raised
    to the publisher. Only the in-process bus can (its publisher and handler share one loop).
    """

    async def subscribe_in_turn(self, subject: str, handler: MessageHandler) -> Subscription: ...


async def subscribe_in_turn(bus: EventBus, subject: str, handler: MessageHandler) -> Subscription:
    """Subscribe ``handler`` live, run in the publisher's turn where ``bus`` can
    (``InTurnDelivery``), else as an ordinary live subscriber."""
    if isinstance(bus, InTurnDelivery):
        return await bus.subscribe_in_turn(subject, handler)
    return await bus.subscribe(subject, handler)


# --- service registry ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceInstance:
    """One running process and the services it hosts."""

    instance_id: str
    services: tuple[str, ...]
    url: str
    started_at_ms: int
    last_heartbeat_ms: int = 0
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "services": list(self.services),
            "url": self.url,
            "started_at_ms": self.started_at_ms,
            "last_heartbeat_ms": self.last_heartbeat_ms,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ServiceInstance:
        return cls(
            instance_id=str(raw["instance_id"]),
            services=tuple(raw["services"]),
            url=str(raw["url"]),
            started_at_ms=int(raw["started_at_ms"]),
            last_heartbeat_ms=int(raw.get("last_heartbeat_ms", 0)),
            meta=dict(raw.get("meta") or {}),
        )


@runtime_checkable
class ServiceRegistry(Protocol):
    """Which process runs which services, kept alive by heartbeats.

    Contract (tests/contracts/test_registry.py): an instance is discoverable from
    ``register`` until ``deregister`` or until ``ttl_s`` passes without a heartbeat;
    ``heartbeat`` of an expired or unknown instance returns False (the caller registers
    again); ``discover`` returns live instances hosting the service, oldest first.
    """

    backend: str

    async def close(self) -> None: ...

    async def health(self) -> HealthReport: ...

    async def register(self, instance: ServiceInstance) -> None: ...

    async def heartbeat(self, instance_id: str) -> bool: ...

    async def deregister(self, instance_id: str) -> None: ...

    async def discover(self, service: str) -> list[ServiceInstance]: ...

    async def instances(self) -> list[ServiceInstance]: ...


__all__ = [
    "MESSAGE_ID_HEADER",
    "BusMessage",
    "EventBus",
    "InTurnDelivery",
    "KeyedInput",
    "LeaseStore",
    "Membership",
    "MessageHandler",
    "PartitionHook",
    "PartitionOwner",
    "PartitionPlan",
    "RequestHandler",
    "ServiceInstance",
    "ServiceRegistry",
    "Subscription",
    "assign",
    "open_leases",
    "partition_of",
    "partition_token",
    "subscribe_in_turn",
]
