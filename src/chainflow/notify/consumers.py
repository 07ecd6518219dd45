"""Durable bus consumers: each event is acked only after its outbox rows committed.

A handler that raises (the database is down) naks, and the bus redelivers; a payload that
cannot be parsed is terminated (it would never parse) and logged without its content. A
source's ``gate`` (known sign-in addresses) runs between parsing and queueing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from chainflow.core.errors import MalformedEventError
from chainflow.core.logging import get_logger
from chainflow.hub.api import BusMessage, EventBus, MessageHandler, Subscription
from chainflow.notify.events import EventSource, event_id_of
from chainflow.notify.intake import OutboxWriter

__all__ = ["EventConsumers"]

log = get_logger("chainflow.notify.consumers")


class EventConsumers:
    """Subscribes one durable consumer per ``EventSource``; ``stop`` unsubscribes them."""

    def __init__(self, bus: EventBus, writer: OutboxWriter, sources: Sequence[EventSource]):
        self._bus = bus
        self._writer = writer
        self._sources = tuple(sources)
        self._subscriptions: list[Subscription] = []

    async def start(self) -> None:
        for source in self._sources:
            subscription = await self._bus.subscribe(
                source.subject, self._handler(source), durable=source.durable
            )
            self._subscriptions.append(subscription)

    async def stop(self) -> None:
        while self._subscriptions:
            await self._subscriptions.pop().unsubscribe()

    def _handler(self, source: EventSource) -> MessageHandler:
        async def handle(message: BusMessage) -> None:
            try:
                payload = json.loads(message.data)
                if not isinstance(payload, dict):
                    raise MalformedEventError(
                        f"expected a JSON object; received {type(payload).__name__}"
                    )
                event = source.parse(
                    message.subject, payload, event_id_of(message.subject, message.data)
                )
            except (ValueError, TypeError) as e:
                log.error(
                    "notify_event_unreadable",
                    subject=message.subject,
                    durable=source.durable,
                    error=type(e).__name__,
                )
                await message.term()
                return
            if event is not None and source.gate is not None:
                event = await source.gate(event)  # raises -> nak -> redelivered
            if event is not None:
                await self._writer.accept(event)  # raises -> nak -> redelivered
            await message.ack()

        return handle
