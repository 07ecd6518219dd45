"""The event bus on NATS JetStream, for services running in several processes.

Subjects: an event ``<s>`` travels on ``<prefix>.ev.<s>`` and a request on
``<prefix>.rpc.<s>``. The stream (``settings.stream``, file storage, limits retention,
seven days by default) captures ``<prefix>.ev.>`` only, so request/reply traffic is never
stored. ``publish`` waits for the stream's PubAck: the event is durable once it returns.

Live subscribers are core NATS subscriptions: every message the stream stores also reaches
them, at most once. A durable subscriber is a fetcher of a JetStream *pull* consumer named
after the durable (explicit ack, ``ack_wait_s`` and ``max_deliver`` from settings, deliver
policy new, filtered on its subject). Pull rather than a push queue group because every
fetcher asks for one message only when its handler is free: a slow handler never holds a
backlog whose ack-wait clocks run out before it is even started, fetchers can come and go
in any process without a shared deliver subject, and this is the consumer kind NATS advises
for work shared by horizontally scaled processes. Requests use core NATS with one queue
group, so any one of several serving processes answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Mapping

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api

from chainflow.core.errors import ConfigurationError, DependencyUnavailable, InvalidInput
from chainflow.core.health import HealthReport
from chainflow.core.logging import get_logger, redact
from chainflow.core.settings import BusSettings
from chainflow.hub.api import MessageHandler, RequestHandler, Subscription
from chainflow.hub.bus import (
    redact_url_list,
    validate_durable_name,
    validate_subject,
    validate_subject_pattern,
    validate_timeout_s,
)
from chainflow.hub.bus.nats_connection import StreamPlan, connect_nats, ensure_stream
from chainflow.hub.bus.nats_consumers import (
    LIVE_PENDING_LIMIT,
    RESPONDER_ERROR_HEADER,
    DurableSubscription,
    LiveSubscription,
    Responder,
    WorkerSubscription,
)
from chainflow.hub.bus.worker_stop import stop_timeout_of

log = get_logger("chainflow.hub.bus")

CLIENT_NAME = "chainflow"


class SubjectMap:
    """Where the bus's subjects live on the NATS server of one deployment."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.event_root = f"{prefix}.ev."
        self.request_root = f"{prefix}.rpc."

    def event(self, subject: str) -> str:
        return self.event_root + subject

    def request(self, subject: str) -> str:
        return self.request_root + subject

    def strip_event_root(self, nats_subject: str) -> str:
        return nats_subject.removeprefix(self.event_root)


class NatsJetStreamBus:
    """The ``EventBus`` on a NATS JetStream server (or cluster) named by ``settings.url``."""

    backend = "nats"

    def __init__(self, settings: BusSettings) -> None:
        self._settings = settings
        self.partitions = settings.partitions
        self._safe_url = redact_url_list(settings.url)
        try:
            validate_subject(settings.subject_prefix)
        except InvalidInput as e:
            raise ConfigurationError(
                "CHAINFLOW_BUS_SUBJECT_PREFIX must be dot-separated tokens without spaces "
                f"or wildcards; received {settings.subject_prefix!r}"
            ) from e
        if not settings.stream or any(c in settings.stream for c in ".*> \t/\\"):
            raise ConfigurationError(
                "CHAINFLOW_BUS_STREAM must be a name without '.', '*', '>', slashes or "
                f"spaces; received {settings.stream!r}"
            )
        self._subjects = SubjectMap(settings.subject_prefix)
        self._stream_plan = StreamPlan(
            name=settings.stream,
            subjects=(self._subjects.event(">"),),
            max_age_s=settings.stream_max_age_s,
            replicas=settings.stream_replicas,
        )
        self._connection: NATS | None = None
        self._js: JetStreamContext | None = None
        self._subscriptions: list[WorkerSubscription] = []
        self._is_closed = False

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and create (or update) the event stream; raise DependencyUnavailable."""
        if self._connection is not None:
            return
        if self._is_closed:
            raise DependencyUnavailable("the event bus was expected open; received a closed bus")
        connection = await connect_nats(self._settings.url, self._safe_url, client_name=CLIENT_NAME)
        try:
            js = connection.jetstream(timeout=self._settings.request_timeout_s)
            await ensure_stream(js, self._stream_plan)
        except BaseException:
            await connection.close()
            raise
        self._connection, self._js = connection, js
        log.info(
            "bus_started",
            backend=self.backend,
            url=self._safe_url,
            stream=self._stream_plan.name,
            subject_prefix=self._subjects.prefix,
        )

    async def close(self) -> None:
        """Stop every subscription (each handler in flight finishes and settles its message,
        within ``worker_stop.stop_timeout_of(ack_wait_s)``) and disconnect."""
        self._is_closed = True
        subscriptions, self._subscriptions = self._subscriptions, []
        await asyncio.gather(*(s.unsubscribe() for s in subscriptions), return_exceptions=True)
        connection, self._connection, self._js = self._connection, None, None
        if connection is not None and not connection.is_closed:
            await connection.close()

    async def health(self) -> HealthReport:
        """Report the connection, the round trip to the server and the stream's size."""
        connection, js = self._connection, self._js
        extra: dict[str, object] = {"url": self._safe_url, "stream": self._stream_plan.name}
        if connection is None or js is None or not connection.is_connected:
            state = (
                "closed"
                if self._is_closed
                else "not started"
                if connection is None
                else "reconnecting"
            )
            return HealthReport(
                name="bus",
                ok=False,
                backend=self.backend,
                detail=f"a connected NATS client was expected; received a {state} one",
                extra=extra,
            )
        server = connection.connected_url
        if server is not None:
            extra["server"] = f"{server.hostname}:{server.port}"
        try:
            latency_s = await self._round_trip_s(connection)
            info = await js.stream_info(self._stream_plan.name)
        except nats.errors.Error as e:
            return HealthReport(
                name="bus",
                ok=False,
                backend=self.backend,
                detail=f"NATS health check failed with {type(e).__name__}: {redact(str(e))}",
                extra=extra,
            )
        extra.update(messages=info.state.messages, consumers=info.state.consumer_count)
        return HealthReport(
            name="bus", ok=True, backend=self.backend, latency_ms=latency_s * 1000, extra=extra
        )

    async def _flush(self, connection: NATS) -> None:
        """A round trip: the server has processed everything this client sent before it."""
        await connection.flush(timeout=self._settings.request_timeout_s)  # type: ignore[arg-type]

    async def _round_trip_s(self, connection: NATS) -> float:
        timeout_s = self._settings.request_timeout_s
        rtt = getattr(connection, "rtt", None)
        if rtt is not None:
            return float(await rtt(timeout=timeout_s))
        loop = asyncio.get_running_loop()
        started_s = loop.time()
        await connection.flush(timeout=timeout_s)  # type: ignore[arg-type]
        return loop.time() - started_s

    # --- events --------------------------------------------------------------------------

    async def publish(
        self, subject: str, data: bytes, *, headers: Mapping[str, str] | None = None
    ) -> None:
        """Store the event in the stream; return once the stream has acknowledged it."""
        validate_subject(subject)
        js = self._jetstream()
        try:
            await js.publish(
                self._subjects.event(subject),
                bytes(data),
                timeout=self._settings.request_timeout_s,
                headers=dict(headers) if headers else None,
            )
        except nats.errors.MaxPayloadError as e:
            raise InvalidInput(
                f"bus message on {subject!r} must fit the server's maximum payload; "
                f"received {len(data)} bytes"
            ) from e
        except nats.js.errors.NoStreamResponseError as e:
            raise DependencyUnavailable(
                f"JetStream stream {self._stream_plan.name!r} was expected to capture the event "
                f"on {subject!r}; received no stream answer (the stream was deleted or its "
                "subjects changed; restarting the process recreates it)"
            ) from e
        except nats.errors.Error as e:
            raise DependencyUnavailable(
                f"JetStream was expected to acknowledge the event on {subject!r} within "
                f"{self._settings.request_timeout_s} s; received {type(e).__name__}"
            ) from e

    async def subscribe(
        self,
        subject: str,
        handler: MessageHandler,
        *,
        durable: str | None = None,
        max_in_flight: int | None = None,
    ) -> Subscription:
        """Start a live subscriber, or a fetcher of the durable consumer ``durable`` (its
        ``max_ack_pending`` set to ``max_in_flight`` when given)."""
        validate_subject_pattern(subject)
        if durable is not None:
            validate_durable_name(durable)
        connection, js = self._connection_and_jetstream()
        nats_subject = self._subjects.event(subject)
        stop_timeout_s = stop_timeout_of(self._settings.ack_wait_s)
        subscription: WorkerSubscription
        try:
            if durable is None:
                core = await connection.subscribe(
                    nats_subject, pending_msgs_limit=LIVE_PENDING_LIMIT
                )
                subscription = LiveSubscription(
                    self._forget, core, handler, self._subjects.strip_event_root, stop_timeout_s
                )
            else:
                await self._ensure_consumer(js, durable, subject, max_in_flight)
                pull = await js.pull_subscribe_bind(durable=durable, stream=self._stream_plan.name)
                subscription = DurableSubscription(
                    self._forget,
                    pull,
                    handler,
                    self._subjects.strip_event_root,
                    durable,
                    stop_timeout_s,
                    functools.partial(self._flush, connection),
                )
        except nats.errors.Error as e:
            raise DependencyUnavailable(
                f"NATS was expected to accept a subscription to {subject!r}; received "
                f"{type(e).__name__}: {redact(str(e))}"
            ) from e
        subscription.start(name=f"bus-{'durable:' + durable if durable else 'live'}:{subject}")
        self._subscriptions.append(subscription)
        return subscription

    async def reclaim(self, durable: str) -> int:
        """Deliver again at once what ``durable``'s earlier fetchers left unsettled
        (``EventBus.reclaim``).

        JetStream cannot hand another fetcher a delivery before its ack wait passes, so the
        consumer is recreated to start at its first unsettled message (``_first_unsettled``):
        from there every message (the ones left unsettled, then the ones not yet delivered)
        is delivered again, in order, with a delivery count starting over. Made for
        ``max_in_flight=1`` (partitions), where nothing above the ack floor was settled; with
        more in flight, a message settled above the floor would come again (delivery is
        at-least-once)."""
        validate_durable_name(durable)
        _, js = self._connection_and_jetstream()
        stream = self._stream_plan.name
        try:
            try:
                info = await js.consumer_info(stream, durable)
            except nats.js.errors.NotFoundError:
                return 0
            unsettled = info.num_ack_pending or 0
            first = _first_unsettled(info) if unsettled else None
            if first is None:
                return 0
            restart = dataclasses.replace(
                info.config,
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=first,
            )
            await js.delete_consumer(stream, durable)
            await js.add_consumer(stream, restart)
        except nats.errors.Error as e:
            raise DependencyUnavailable(
                f"JetStream was expected to restart consumer {durable!r} after its last settled "
                f"message; received {type(e).__name__}: {redact(str(e))}"
            ) from e
        log.info("bus_durable_reclaimed", durable=durable, unsettled=unsettled, restart_at=first)
        return unsettled

    async def _ensure_consumer(
        self, js: JetStreamContext, durable: str, subject: str, max_in_flight: int | None
    ) -> None:
        stream = self._stream_plan.name
        desired = api.ConsumerConfig(
            name=durable,
            durable_name=durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self._settings.ack_wait_s,
            max_deliver=self._settings.max_deliver,
            deliver_policy=api.DeliverPolicy.NEW,
            filter_subject=self._subjects.event(subject),
            max_ack_pending=max_in_flight,
        )
        try:
            existing = (await js.consumer_info(stream, durable)).config
        except nats.js.errors.NotFoundError:
            await js.add_consumer(stream, desired)
            return
        if existing.deliver_subject:
            raise ConfigurationError(
                f"JetStream consumer {durable!r} on stream {stream!r} was expected to be a "
                "pull consumer; received a push consumer (delete it or use another name)"
            )
        if existing.filter_subject != desired.filter_subject:
            bound = self._subjects.strip_event_root(existing.filter_subject or "")
            raise InvalidInput(
                f"durable consumer {durable!r} is bound to subject {bound!r}, and one durable "
                f"name serves one subject; received {subject!r} (use a new name)"
            )
        if (
            abs((existing.ack_wait or 0) - self._settings.ack_wait_s) > 1e-3
            or existing.max_deliver != self._settings.max_deliver
            or (max_in_flight is not None and existing.max_ack_pending != max_in_flight)
        ):
            # create-or-update of editable fields; where it starts is kept (``reclaim``)
            kept = dataclasses.replace(
                desired,
                deliver_policy=existing.deliver_policy,
                opt_start_seq=existing.opt_start_seq,
            )
            await js.add_consumer(stream, kept)

    # --- request/reply -------------------------------------------------------------------

    async def request(self, subject: str, data: bytes, *, timeout_s: float | None = None) -> bytes:
        """Send to one responder serving ``subject`` and return its reply."""
        validate_subject(subject)
        timeout_s = self._settings.request_timeout_s if timeout_s is None else timeout_s
        validate_timeout_s(timeout_s)
        connection, _ = self._connection_and_jetstream()
        try:
            reply = await connection.request(
                self._subjects.request(subject), bytes(data), timeout=timeout_s
            )
        except nats.errors.NoRespondersError as e:
            raise DependencyUnavailable(
                f"a responder serving bus subject {subject!r} was expected; received none"
            ) from e
        except TimeoutError as e:
            raise DependencyUnavailable(
                f"a reply on bus subject {subject!r} was expected within {timeout_s} s; "
                "received none in time"
            ) from e
        except nats.errors.MaxPayloadError as e:
            raise InvalidInput(
                f"bus request on {subject!r} must fit the server's maximum payload; "
                f"received {len(data)} bytes"
            ) from e
        except nats.errors.Error as e:
            raise DependencyUnavailable(
                f"a reply on bus subject {subject!r} was expected; received {type(e).__name__}"
            ) from e
        failure = (reply.headers or {}).get(RESPONDER_ERROR_HEADER)
        if failure is not None:
            raise DependencyUnavailable(
                f"a reply on bus subject {subject!r} was expected; the responder failed "
                f"with {failure}"
            )
        return reply.data

    async def serve(self, subject: str, handler: RequestHandler) -> Subscription:
        """Answer requests on ``subject``; serving processes share them as a queue group."""
        validate_subject_pattern(subject)
        connection, _ = self._connection_and_jetstream()
        try:
            core = await connection.subscribe(
                self._subjects.request(subject), queue=f"{self._subjects.prefix}-rpc"
            )
        except nats.errors.Error as e:
            raise DependencyUnavailable(
                f"NATS was expected to accept a responder on {subject!r}; received "
                f"{type(e).__name__}"
            ) from e
        responder = Responder(self._forget, connection, core, handler, subject)
        responder.start(name=f"bus-responder:{subject}")
        self._subscriptions.append(responder)
        return responder

    # --- helpers -------------------------------------------------------------------------

    def _forget(self, subscription: WorkerSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def _jetstream(self) -> JetStreamContext:
        return self._connection_and_jetstream()[1]

    def _connection_and_jetstream(self) -> tuple[NATS, JetStreamContext]:
        if self._connection is None or self._js is None:
            state = "closed" if self._is_closed else "not started"
            raise DependencyUnavailable(
                f"the event bus was expected started (call start() first); received a {state} bus"
            )
        return self._connection, self._js


def _first_unsettled(info: api.ConsumerInfo) -> int | None:
    """The stream sequence a reclaimed consumer restarts at, or None when it is unknown.

    After an ack, the message after the ack floor. Before any (the server then reports a
    floor of 0), the consumer's own start: the sequence a previous reclaim restarted it at,
    or, for a consumer of new messages with one in flight, the message it delivered last
    (its only one so far). Restarting at 1 would deliver the subject's whole history.
    """
    floor = info.ack_floor
    if floor is not None and floor.consumer_seq:
        return (floor.stream_seq or 0) + 1
    config = info.config
    if config.deliver_policy == api.DeliverPolicy.BY_START_SEQUENCE and config.opt_start_seq:
        return int(config.opt_start_seq)
    delivered = info.delivered
    if config.max_ack_pending == 1 and delivered is not None and delivered.stream_seq:
        return int(delivered.stream_seq)
    return None  # several in flight and none acked: left to the ack wait
