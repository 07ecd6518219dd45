"""The subscriptions of the NATS bus: live, durable (JetStream pull) and request responders.

Each subscription owns one worker task that reads its messages and awaits the handler,
so a slow handler holds up only its own subscription. Messages are wrapped in adapters
that implement ``hub.api.BusMessage`` with the deployment's subject prefix stripped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Literal

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js import JetStreamContext

from chainflow.core.errors import DependencyUnavailable
from chainflow.core.logging import get_logger, redact
from chainflow.hub.api import MessageHandler, RequestHandler
from chainflow.hub.bus import describe_failure, validate_redelivery_delay_s
from chainflow.hub.bus.worker_stop import DEFAULT_STOP_TIMEOUT_S, stop_worker

log = get_logger("chainflow.hub.bus")

FETCH_WAIT_S = 5.0
"""How long one pull request waits on the server for a message before it is renewed."""
FETCH_RETRY_DELAY_S = 1.0
LIVE_PENDING_LIMIT = 65_536
RESPONDER_CONCURRENCY = 64
RESPONDER_ERROR_HEADER = "Chainflow-Responder-Error"

Settlement = Literal["ack", "nak", "term"]


def empty_headers() -> Mapping[str, str]:
    return MappingProxyType({})


def copy_headers(raw: Msg) -> Mapping[str, str]:
    return MappingProxyType(dict(raw.headers)) if raw.headers else empty_headers()


class CoreDelivery:
    """A message seen by a live subscriber; there is nothing to settle.

    Its NATS reply subject, when there is one, belongs to the publisher's PubAck, so this
    adapter never answers it.
    """

    __slots__ = ("subject", "data", "headers", "delivery_count")

    def __init__(self, raw: Msg, subject: str) -> None:
        self.subject = subject
        self.data = raw.data
        self.headers = copy_headers(raw)
        self.delivery_count = 1

    async def ack(self) -> None:
        """Do nothing: live delivery is at-most-once."""

    async def nak(self, delay_s: float | None = None) -> None:
        """Do nothing: live delivery is at-most-once and never redelivered."""
        validate_redelivery_delay_s(delay_s)

    async def term(self) -> None:
        """Do nothing: live delivery is never redelivered anyway."""


class JetStreamDelivery:
    """One delivery of a durable consumer's message; the first settlement wins."""

    __slots__ = ("subject", "data", "headers", "delivery_count", "settlement", "_raw")

    def __init__(self, raw: Msg, subject: str) -> None:
        self.subject = subject
        self.data = raw.data
        self.headers = copy_headers(raw)
        self.delivery_count = raw.metadata.num_delivered
        self.settlement: Settlement | None = None
        self._raw = raw

    async def ack(self) -> None:
        """Mark the message processed; it is not delivered again."""
        await self._settle("ack", self._raw.ack)

    async def nak(self, delay_s: float | None = None) -> None:
        """Ask for redelivery, after ``delay_s`` seconds when given."""
        validate_redelivery_delay_s(delay_s)
        await self._settle("nak", lambda: self._raw.nak(delay=delay_s))

    async def term(self) -> None:
        """Never deliver this message again."""
        await self._settle("term", self._raw.term)

    async def settle_quietly(self, settlement: Settlement) -> None:
        """Settle unless already settled; log instead of raising when NATS is gone."""
        try:
            if settlement == "ack":
                await self.ack()
            else:
                await self.nak()
        except DependencyUnavailable:
            log.warning(
                "bus_settle_failed",
                subject=self.subject,
                settlement=settlement,
                note="the server redelivers the message after ack_wait",
            )

    async def _settle(self, settlement: Settlement, send: Callable[[], Awaitable[None]]) -> None:
        if self.settlement is not None:
            return
        self.settlement = settlement
        try:
            await send()
        except nats.errors.Error as e:
            raise DependencyUnavailable(
                f"NATS was expected to take the {settlement} of a message on {self.subject!r}; "
                f"received {type(e).__name__}"
            ) from e


class WorkerSubscription:
    """The part every NATS subscription shares: one worker task and a clean stop."""

    def __init__(
        self,
        forget: Callable[[WorkerSubscription], None],
        stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
    ) -> None:
        self._forget = forget
        self._worker: asyncio.Task[None] | None = None
        self.stop_timeout_s = stop_timeout_s
        self.in_flight = False  # a handler is running (and its delivery not yet settled)
        self.is_stopping = False

    def start(self, name: str) -> None:
        self._worker = asyncio.create_task(self._run(), name=name)

    async def unsubscribe(self) -> None:
        """Stop receiving: take no more messages, let the delivery in flight finish and
        settle for up to ``stop_timeout_s``, then cancel it (its message is nakked)."""
        if self.is_stopping:
            return
        self.is_stopping = True
        self._forget(self)
        await stop_worker(self._worker, in_flight=self.in_flight, timeout_s=self.stop_timeout_s)

    async def _run(self) -> None:
        raise NotImplementedError

    @staticmethod
    async def _unsubscribe_quietly(subscription: NatsSubscription) -> None:
        try:
            await subscription.unsubscribe()
        except nats.errors.Error:
            pass  # the connection is closed or the subscription is already gone


class LiveSubscription(WorkerSubscription):
    """A core NATS subscription: every live subscriber sees every message."""

    def __init__(
        self,
        forget: Callable[[WorkerSubscription], None],
        subscription: NatsSubscription,
        handler: MessageHandler,
        strip_prefix: Callable[[str], str],
        stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
    ) -> None:
        super().__init__(forget, stop_timeout_s)
        self._subscription = subscription
        self._handler = handler
        self._strip_prefix = strip_prefix

    async def _run(self) -> None:
        try:
            async for raw in self._subscription.messages:
                subject = self._strip_prefix(raw.subject)
                self.in_flight = True
                try:
                    await self._handler(CoreDelivery(raw, subject))
                except Exception as e:
                    log.error("bus_handler_failed", subject=subject, **describe_failure(e))
                finally:
                    self.in_flight = False
                if self.is_stopping:
                    break
        finally:
            await self._unsubscribe_quietly(self._subscription)


class DurableSubscription(WorkerSubscription):
    """One fetcher of a JetStream pull consumer; fetchers of one consumer share its work."""

    def __init__(
        self,
        forget: Callable[[WorkerSubscription], None],
        pull: JetStreamContext.PullSubscription,
        handler: MessageHandler,
        strip_prefix: Callable[[str], str],
        durable: str,
        stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
        flush: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``flush`` (a round trip to the server) runs when the fetcher stops, so that its
        settlements are processed before ``unsubscribe`` returns: a next subscriber that
        ``reclaim``s the durable then sees them settled."""
        super().__init__(forget, stop_timeout_s)
        self._pull = pull
        self._flush = flush
        self._handler = handler
        self._strip_prefix = strip_prefix
        self._durable = durable

    async def _run(self) -> None:
        try:
            while not self.is_stopping:
                try:
                    batch = await self._pull.fetch(batch=1, timeout=FETCH_WAIT_S)
                except TimeoutError:
                    continue  # no message within the wait: ask again
                except (nats.errors.ConnectionClosedError, nats.errors.BadSubscriptionError):
                    return
                except nats.errors.Error as e:
                    log.warning(
                        "bus_fetch_failed",
                        durable=self._durable,
                        error_type=type(e).__name__,
                        error=redact(str(e)),
                    )
                    await asyncio.sleep(FETCH_RETRY_DELAY_S)
                    continue
                for raw in batch:
                    await self._deliver(raw)
        finally:
            await self._release_inbox()

    async def _deliver(self, raw: Msg) -> None:
        delivery = JetStreamDelivery(raw, self._strip_prefix(raw.subject))
        self.in_flight = True
        try:
            await self._handler(delivery)
        except asyncio.CancelledError:
            await delivery.settle_quietly("nak")
            raise
        except Exception as e:
            log.error(
                "bus_handler_failed",
                subject=delivery.subject,
                durable=self._durable,
                delivery_count=delivery.delivery_count,
                **describe_failure(e),
            )
            await delivery.settle_quietly("nak")
        else:
            await delivery.settle_quietly("ack")
        finally:
            self.in_flight = False

    async def _release_inbox(self) -> None:
        try:
            if self._flush is not None:
                await self._flush()
        except (nats.errors.Error, TimeoutError):
            pass  # the connection is gone: the settlements are lost with it (ack wait)
        try:
            await self._pull.unsubscribe()
        except (nats.errors.Error, ValueError):
            pass  # the connection is closed or the inbox is already gone


class Responder(WorkerSubscription):
    """A queue-group member answering requests; up to RESPONDER_CONCURRENCY at once."""

    def __init__(
        self,
        forget: Callable[[WorkerSubscription], None],
        connection: NATS,
        subscription: NatsSubscription,
        handler: RequestHandler,
        subject: str,
    ) -> None:
        super().__init__(forget)
        self._connection = connection
        self._subscription = subscription
        self._handler = handler
        self._subject = subject
        self._slots = asyncio.Semaphore(RESPONDER_CONCURRENCY)
        self._answering: set[asyncio.Task[None]] = set()

    async def _run(self) -> None:
        try:
            async for raw in self._subscription.messages:
                await self._slots.acquire()
                task = asyncio.create_task(self._answer(raw), name=f"bus-answer:{self._subject}")
                self._answering.add(task)
                task.add_done_callback(self._answering.discard)
        finally:
            await self._unsubscribe_quietly(self._subscription)
            answering = list(self._answering)
            for task in answering:
                task.cancel()
            await asyncio.gather(*answering, return_exceptions=True)

    async def _answer(self, raw: Msg) -> None:
        try:
            try:
                reply, headers = await self._handler(raw.data), None
            except Exception as e:
                log.error("bus_responder_failed", subject=self._subject, **describe_failure(e))
                reply, headers = b"", {RESPONDER_ERROR_HEADER: type(e).__name__}
            if raw.reply:
                await self._connection.publish(raw.reply, bytes(reply), headers=headers)
        except nats.errors.Error as e:
            log.warning("bus_reply_failed", subject=self._subject, error_type=type(e).__name__)
        finally:
            self._slots.release()
