"""Messages and deliveries of the in-process bus, and the queue behind a durable consumer.

A durable consumer keeps a retained queue, created by its first subscriber ("deliver new")
and kept after the last one leaves, so messages published meanwhile wait for the next
subscriber. Subscribers sharing a durable name take turns on that queue, longest waiting
first. Delivery is at-least-once: an unsettled delivery comes back after ``ack_wait_s``, a
nak brings it back at once or after the asked delay, and a message is dropped after
``max_deliver`` deliveries. The first settlement of a delivery wins; later ones do nothing.
With ``max_in_flight`` (JetStream's ``max_ack_pending``) a message is handed out only while
fewer deliveries than that are unsettled, over all subscribers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from chainflow.core.logging import get_logger
from chainflow.hub.bus import validate_redelivery_delay_s

log = get_logger("chainflow.hub.bus")

LIVE_PENDING_LIMIT = 65_536
"""Messages a live subscriber may have waiting before new ones are dropped (as NATS does)."""
DURABLE_BACKLOG_LIMIT = 1_000_000
"""Messages a durable consumer retains before the oldest are dropped (stream limits)."""

Outcome = Literal["ack", "nak", "term", "expired"]


@dataclass(frozen=True, slots=True)
class PublishedMessage:
    subject: str
    data: bytes
    headers: Mapping[str, str]


@dataclass(slots=True, eq=False)
class RetainedMessage:
    """A message kept by one durable consumer, with its number of deliveries so far."""

    message: PublishedMessage
    delivery_count: int = 0


class LiveDelivery:
    """A message delivered to a live subscriber; there is nothing to settle."""

    __slots__ = ("subject", "data", "headers", "delivery_count")

    def __init__(self, message: PublishedMessage) -> None:
        self.subject = message.subject
        self.data = message.data
        self.headers = message.headers
        self.delivery_count = 1

    async def ack(self) -> None:
        """Do nothing: live delivery is at-most-once."""

    async def nak(self, delay_s: float | None = None) -> None:
        """Do nothing: live delivery is at-most-once and never redelivered."""
        validate_redelivery_delay_s(delay_s)

    async def term(self) -> None:
        """Do nothing: live delivery is never redelivered anyway."""


class DurableDelivery:
    """One delivery attempt of a retained message; the first settlement wins."""

    __slots__ = ("subject", "data", "headers", "delivery_count", "retained", "outcome", "_owner")

    def __init__(self, owner: DurableConsumer, retained: RetainedMessage) -> None:
        self.subject = retained.message.subject
        self.data = retained.message.data
        self.headers = retained.message.headers
        self.delivery_count = retained.delivery_count
        self.retained = retained
        self.outcome: Outcome | None = None
        self._owner = owner

    @property
    def is_settled(self) -> bool:
        return self.outcome is not None

    async def ack(self) -> None:
        """Mark the message processed; it is not delivered again."""
        self._owner.settle(self, "ack")

    async def nak(self, delay_s: float | None = None) -> None:
        """Ask for redelivery, after ``delay_s`` seconds when given."""
        validate_redelivery_delay_s(delay_s)
        self._owner.settle(self, "nak", delay_s=delay_s)

    async def term(self) -> None:
        """Never deliver this message again."""
        self._owner.settle(self, "term")


class DurableConsumer:
    """The retained queue behind one durable name, shared by all its subscribers."""

    def __init__(
        self,
        name: str,
        pattern: str,
        *,
        ack_wait_s: float,
        max_deliver: int,
        max_in_flight: int | None = None,
    ) -> None:
        self.name = name
        self.pattern = pattern
        self.max_in_flight = max_in_flight
        self._ack_wait_s = ack_wait_s
        self._max_deliver = max_deliver
        self._in_flight = 0  # handed out and not yet settled
        self._ready: deque[RetainedMessage] = deque()
        self._waiters: deque[asyncio.Future[RetainedMessage]] = deque()
        self._ack_timers: dict[DurableDelivery, asyncio.TimerHandle] = {}
        self._redelivery_timers: dict[RetainedMessage, asyncio.TimerHandle] = {}

    @property
    def backlog(self) -> int:
        return len(self._ready)

    def offer(self, retained: RetainedMessage, *, first: bool = False) -> None:
        """Hand ``retained`` to the longest-waiting subscriber, or keep it in the queue."""
        while self._waiters and self._has_room():
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_flight += 1
                waiter.set_result(retained)
                return
        if first:
            self._ready.appendleft(retained)
            return
        if len(self._ready) >= DURABLE_BACKLOG_LIMIT:
            dropped = self._ready.popleft()
            log.warning(
                "bus_durable_backlog_full",
                durable=self.name,
                limit=DURABLE_BACKLOG_LIMIT,
                dropped_subject=dropped.message.subject,
            )
        self._ready.append(retained)

    async def take(self) -> DurableDelivery:
        """Wait for the next message and start a delivery attempt of it."""
        if self._ready and self._has_room():
            retained = self._ready.popleft()
            self._in_flight += 1
        else:
            waiter: asyncio.Future[RetainedMessage] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                retained = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._in_flight -= 1
                    self.offer(waiter.result(), first=True)
                else:
                    waiter.cancel()
                raise
        retained.delivery_count += 1
        delivery = DurableDelivery(self, retained)
        loop = asyncio.get_running_loop()
        self._ack_timers[delivery] = loop.call_later(
            self._ack_wait_s, self.settle, delivery, "expired"
        )
        return delivery

    def settle(
        self, delivery: DurableDelivery, outcome: Outcome, delay_s: float | None = None
    ) -> None:
        """Record the first outcome of ``delivery``; later ones are ignored."""
        if delivery.outcome is not None:
            return
        delivery.outcome = outcome
        self._in_flight -= 1
        timer = self._ack_timers.pop(delivery, None)
        if timer is not None:
            timer.cancel()
        if outcome in ("ack", "term"):
            self._hand_over()
            return
        retained = delivery.retained
        if retained.delivery_count >= self._max_deliver:
            log.warning(
                "bus_message_dropped_after_max_deliver",
                durable=self.name,
                subject=retained.message.subject,
                delivery_count=retained.delivery_count,
                max_deliver=self._max_deliver,
            )
        elif delay_s:
            self._redelivery_timers[retained] = asyncio.get_running_loop().call_later(
                delay_s, self._redeliver, retained
            )
        else:
            self.offer(retained, first=True)
        self._hand_over()

    def reclaim(self) -> int:
        """Take back every unsettled delivery as if its ack wait had passed; return how
        many (``EventBus.reclaim``)."""
        unsettled = list(self._ack_timers)
        for delivery in unsettled:
            self.settle(delivery, "expired")
        return len(unsettled)

    def _has_room(self) -> bool:
        return self.max_in_flight is None or self._in_flight < self.max_in_flight

    def _hand_over(self) -> None:
        """A delivery was settled: the next retained message may go to a waiting subscriber."""
        while self._ready and self._waiters and self._has_room():
            self.offer(self._ready.popleft(), first=True)

    def _redeliver(self, retained: RetainedMessage) -> None:
        self._redelivery_timers.pop(retained, None)
        self.offer(retained, first=True)

    def close(self) -> None:
        for timer in [*self._ack_timers.values(), *self._redelivery_timers.values()]:
            timer.cancel()
        self._ack_timers.clear()
        self._redelivery_timers.clear()
        for waiter in self._waiters:
            waiter.cancel()
        self._waiters.clear()
