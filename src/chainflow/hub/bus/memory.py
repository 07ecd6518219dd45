"""In-process event bus: the embedded default, with the delivery rules of NATS JetStream.

Live subscriptions each own a capped queue and a worker task, so ``publish`` only enqueues
and never waits for their handlers; an in-turn subscription (``subscribe_in_turn``, for
handlers that only hand the message on) has its handler run by ``publish`` itself, after
every other subscriber has the message, which saves the message a turn of the event loop.
Durable subscriptions each own a worker task taking turns on the retained queue of their
durable consumer (``memory_delivery``), which outlives its subscribers; durable consumers
do background work (bar closes, notifications), so each message waits for the hot path's
turn (``core.hot_path``) before its handler.
Request/reply calls a responder directly, with a timeout.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from chainflow.core import hot_path
from chainflow.core.errors import DependencyUnavailable, InvalidInput
from chainflow.core.health import HealthReport
from chainflow.core.logging import get_logger
from chainflow.core.settings.infrastructure import DEFAULT_BUS_PARTITIONS
from chainflow.hub.api import MessageHandler, RequestHandler
from chainflow.hub.bus import (
    SINGLE_TOKEN_WILDCARD,
    TAIL_WILDCARD,
    describe_failure,
    subject_matches,
    validate_durable_name,
    validate_subject,
    validate_subject_pattern,
    validate_timeout_s,
)
from chainflow.hub.bus.memory_delivery import (
    LIVE_PENDING_LIMIT,
    DurableConsumer,
    LiveDelivery,
    PublishedMessage,
    RetainedMessage,
)
from chainflow.hub.bus.worker_stop import stop_timeout_of, stop_worker

log = get_logger("chainflow.hub.bus")


@dataclass(eq=False)
class InProcessSubscription:
    """A live or durable subscription with its own worker task."""

    bus: InProcessBus
    pattern: str
    handler: MessageHandler
    durable: DurableConsumer | None = None
    pending: asyncio.Queue[PublishedMessage] = field(default_factory=asyncio.Queue)
    dropped: int = 0
    worker: asyncio.Task[None] | None = None
    in_flight: bool = False  # a handler is running (and its delivery not yet settled)
    is_stopping: bool = False
    in_turn: bool = False  # run by ``publish`` itself (``subscribe_in_turn``), no worker

    async def unsubscribe(self) -> None:
        """Stop receiving: take no more messages, let the delivery in flight finish and
        settle for up to the bus's ``stop_timeout_s``, then cancel it (its message is
        nakked)."""
        if self.is_stopping:
            return
        self.is_stopping = True
        self.bus.forget(self)
        await stop_worker(self.worker, in_flight=self.in_flight, timeout_s=self.bus.stop_timeout_s)

    def enqueue(self, message: PublishedMessage) -> None:
        if self.pending.qsize() >= LIVE_PENDING_LIMIT:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % LIVE_PENDING_LIMIT == 0:
                log.warning(
                    "bus_slow_subscriber_dropped_messages",
                    subject=self.pattern,
                    dropped=self.dropped,
                    pending_limit=LIVE_PENDING_LIMIT,
                )
            return
        self.pending.put_nowait(message)

    async def deliver_in_turn(self, message: PublishedMessage) -> None:
        """Run the handler now, in the publisher's task (``subscribe_in_turn``)."""
        if not self.is_stopping:
            await self._deliver(message)

    async def run_live(self) -> None:
        while not self.is_stopping:
            await self._deliver(await self.pending.get())

    async def _deliver(self, message: PublishedMessage) -> None:
        """Run the live handler on ``message``; its failure is logged, never raised."""
        self.in_flight = True
        try:
            await self.handler(LiveDelivery(message))
        except Exception as e:
            log.error(
                "bus_handler_failed", subject=message.subject, durable=None, **describe_failure(e)
            )
        finally:
            self.in_flight = False

    async def run_durable(self, consumer: DurableConsumer) -> None:
        turn = hot_path.gate().turn  # durable consumers are background work: ticks first
        while not self.is_stopping:
            delivery = await consumer.take()
            self.in_flight = True
            try:
                await turn()
                await self.handler(delivery)
            except asyncio.CancelledError:
                consumer.settle(delivery, "nak")
                raise
            except Exception as e:
                log.error(
                    "bus_handler_failed",
                    subject=delivery.subject,
                    durable=consumer.name,
                    delivery_count=delivery.delivery_count,
                    **describe_failure(e),
                )
                consumer.settle(delivery, "nak")
            else:
                consumer.settle(delivery, "ack")
            finally:
                self.in_flight = False


@dataclass(eq=False)
class InProcessResponder:
    bus: InProcessBus
    pattern: str
    handler: RequestHandler

    async def unsubscribe(self) -> None:
        """Stop answering requests."""
        self.bus.forget_responder(self)


MAX_ROUTES = 100_000  # distinct published subjects remembered (see ``InProcessBus._routes``)


@dataclass(frozen=True, slots=True)
class _Route:
    """What one published subject reaches besides its literal subscribers."""

    wildcard: tuple[InProcessSubscription, ...]
    durables: tuple[DurableConsumer, ...]


class InProcessBus:
    """The embedded ``EventBus``: everything stays in this process and this event loop."""

    backend = "memory"

    def __init__(
        self,
        *,
        ack_wait_s: float = 30.0,
        max_deliver: int = 5,
        request_timeout_s: float = 5.0,
        partitions: int = DEFAULT_BUS_PARTITIONS,
    ) -> None:
        self.partitions = partitions
        self.stop_timeout_s = stop_timeout_of(ack_wait_s)
        self._ack_wait_s = ack_wait_s
        self._max_deliver = max_deliver
        self._request_timeout_s = request_timeout_s
        self._subscriptions: list[InProcessSubscription] = []
        # Live subscriptions indexed for publish: by exact subject, and those with wildcards.
        self._literal: dict[str, list[InProcessSubscription]] = {}
        self._wildcard: list[InProcessSubscription] = []
        self._durables: dict[str, DurableConsumer] = {}
        # Per published subject: the wildcard subscriptions and durables it matches (valid
        # until either set changes). Matching every pattern on every publish was ~4 % of the
        # serving loop's time at 1,000 ticks/s; a subject in here was validated too.
        self._routes: dict[str, _Route] = {}
        self._responders: list[InProcessResponder] = []
        self._responder_turn = itertools.count()
        self._is_closed = False

    async def start(self) -> None:
        """Nothing to connect; the bus works from construction."""

    async def close(self) -> None:
        """Stop every worker (each handler in flight finishes and settles its message,
        within ``stop_timeout_s``), drop retained messages and refuse further use."""
        self._is_closed = True
        subscriptions = list(self._subscriptions)
        await asyncio.gather(*(s.unsubscribe() for s in subscriptions), return_exceptions=True)
        self._subscriptions = []
        self._literal, self._wildcard = {}, []
        self._routes.clear()
        for consumer in self._durables.values():
            consumer.close()
        self._durables.clear()
        self._responders.clear()

    async def health(self) -> HealthReport:
        """Report the bus as healthy unless closed, with its subscription counts."""
        return HealthReport(
            name="bus",
            ok=not self._is_closed,
            backend=self.backend,
            detail="the bus is closed" if self._is_closed else None,
            extra={
                "subscriptions": len(self._subscriptions),
                "durables": len(self._durables),
                "retained_messages": sum(c.backlog for c in self._durables.values()),
            },
        )

    def depth(self) -> dict[str, int]:
        """Return the messages waiting: in live subscriptions' queues, in durable backlogs."""
        live = sum(s.pending.qsize() for s in self._subscriptions if s.durable is None)
        durable = sum(c.backlog for c in self._durables.values())
        return {"live": live, "durable": durable}

    async def publish(
        self, subject: str, data: bytes, *, headers: Mapping[str, str] | None = None
    ) -> None:
        """Hand the message to every matching subscriber and durable; never wait for them."""
        route = self._routes.get(subject)
        if route is None:
            route = self._route(subject)
        self._refuse_when_closed()
        message = PublishedMessage(subject, bytes(data), MappingProxyType(dict(headers or {})))
        in_turn: list[InProcessSubscription] = []
        for subscriptions in (self._literal.get(subject, ()), route.wildcard):
            for subscription in subscriptions:
                if subscription.in_turn:
                    in_turn.append(subscription)
                else:
                    subscription.enqueue(message)
        for consumer in route.durables:
            consumer.offer(RetainedMessage(message))
        for subscription in in_turn:  # the others have it already
            await subscription.deliver_in_turn(message)

    def _route(self, subject: str) -> _Route:
        """Validate ``subject`` and remember what it matches (see ``_routes``)."""
        validate_subject(subject)
        if len(self._routes) >= MAX_ROUTES:  # many one-off subjects: start over
            self._routes.clear()
        route = _Route(
            tuple(s for s in self._wildcard if subject_matches(s.pattern, subject)),
            tuple(c for c in self._durables.values() if subject_matches(c.pattern, subject)),
        )
        self._routes[subject] = route
        return route

    async def subscribe(
        self,
        subject: str,
        handler: MessageHandler,
        *,
        durable: str | None = None,
        max_in_flight: int | None = None,
    ) -> InProcessSubscription:
        """Start a live subscriber, or a subscriber of the durable consumer ``durable`` (at
        most ``max_in_flight`` of its deliveries unsettled, over all its subscribers)."""
        validate_subject_pattern(subject)
        if durable is not None:
            validate_durable_name(durable)
        self._refuse_when_closed()
        subscription = InProcessSubscription(self, subject, handler)
        if durable is None:
            subscription.worker = asyncio.create_task(
                subscription.run_live(), name=f"bus-live:{subject}"
            )
        else:
            consumer = self._durable_consumer(durable, subject)
            if max_in_flight is not None:
                consumer.max_in_flight = max_in_flight
            subscription.durable = consumer
            subscription.worker = asyncio.create_task(
                subscription.run_durable(consumer), name=f"bus-durable:{durable}"
            )
        if durable is None:
            self._index_live(subscription)
        else:
            self._subscriptions.append(subscription)
        return subscription

    async def reclaim(self, durable: str) -> int:
        """Deliver again at once what ``durable``'s earlier subscribers left unsettled
        (``EventBus.reclaim``)."""
        validate_durable_name(durable)
        self._refuse_when_closed()
        consumer = self._durables.get(durable)
        return 0 if consumer is None else consumer.reclaim()

    def _index_live(self, subscription: InProcessSubscription) -> None:
        self._subscriptions.append(subscription)
        if _is_literal(subscription.pattern):  # most live subjects: a connection's, a tenant's
            self._literal.setdefault(subscription.pattern, []).append(subscription)
        else:
            self._wildcard.append(subscription)
            self._routes.clear()

    async def subscribe_in_turn(
        self, subject: str, handler: MessageHandler
    ) -> InProcessSubscription:
        """Start a live subscriber whose handler ``publish`` runs itself
        (``hub.api.InTurnDelivery``)."""
        validate_subject_pattern(subject)
        self._refuse_when_closed()
        subscription = InProcessSubscription(self, subject, handler, in_turn=True)
        self._index_live(subscription)
        return subscription

    async def request(self, subject: str, data: bytes, *, timeout_s: float | None = None) -> bytes:
        """Call one handler serving ``subject`` and return its reply."""
        validate_subject(subject)
        timeout_s = self._request_timeout_s if timeout_s is None else timeout_s
        validate_timeout_s(timeout_s)
        self._refuse_when_closed()
        responders = [r for r in self._responders if subject_matches(r.pattern, subject)]
        if not responders:
            raise DependencyUnavailable(
                f"a responder serving bus subject {subject!r} was expected; received none"
            )
        responder = responders[next(self._responder_turn) % len(responders)]
        try:
            return bytes(await asyncio.wait_for(responder.handler(bytes(data)), timeout_s))
        except TimeoutError as e:
            raise DependencyUnavailable(
                f"a reply on bus subject {subject!r} was expected within {timeout_s} s; "
                "received none in time"
            ) from e
        except Exception as e:
            log.error("bus_responder_failed", subject=subject, **describe_failure(e))
            raise DependencyUnavailable(
                f"a reply on bus subject {subject!r} was expected; the responder failed "
                f"with {type(e).__name__}"
            ) from e

    async def serve(self, subject: str, handler: RequestHandler) -> InProcessResponder:
        """Answer requests on ``subject`` (several responders take turns)."""
        validate_subject_pattern(subject)
        self._refuse_when_closed()
        responder = InProcessResponder(self, subject, handler)
        self._responders.append(responder)
        return responder

    def forget(self, subscription: InProcessSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
        same = self._literal.get(subscription.pattern)
        if same is not None and subscription in same:
            same.remove(subscription)
            if not same:
                del self._literal[subscription.pattern]
        if subscription in self._wildcard:
            self._wildcard.remove(subscription)
            self._routes.clear()

    def forget_responder(self, responder: InProcessResponder) -> None:
        if responder in self._responders:
            self._responders.remove(responder)

    def _durable_consumer(self, durable: str, subject: str) -> DurableConsumer:
        consumer = self._durables.get(durable)
        if consumer is None:
            consumer = DurableConsumer(
                durable, subject, ack_wait_s=self._ack_wait_s, max_deliver=self._max_deliver
            )
            self._durables[durable] = consumer
            self._routes.clear()
        elif consumer.pattern != subject:
            raise InvalidInput(
                f"durable consumer {durable!r} is bound to subject {consumer.pattern!r}, and "
                f"one durable name serves one subject; received {subject!r} (use a new name)"
            )
        return consumer

    def _refuse_when_closed(self) -> None:
        if self._is_closed:
            raise DependencyUnavailable("the event bus was expected open; received a closed bus")


def _is_literal(pattern: str) -> bool:
    wildcards = (SINGLE_TOKEN_WILDCARD, TAIL_WILDCARD)
    return not any(token in wildcards for token in pattern.split("."))
