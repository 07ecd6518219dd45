"""Connecting to NATS and preparing the JetStream stream that keeps events.

nats-py retries its first connection for as long as it would reconnect later, so a
server process configured to reconnect forever would also hang forever at start-up on a
wrong URL. ``connect_nats`` instead gives up once every server of the list has refused
once (or the connect budget is spent), and keeps reconnecting forever after a successful
first connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api

from chainflow.core.errors import ConfigurationError, DependencyUnavailable
from chainflow.core.logging import get_logger, redact

log = get_logger("chainflow.hub.bus")

CONNECT_TIMEOUT_S = 2.0
RECONNECT_WAIT_S = 2.0
PING_INTERVAL_S = 20
MAX_OUTSTANDING_PINGS = 3
RECONNECT_FOREVER = -1


def split_server_urls(url: str) -> list[str]:
    """Return the servers of a comma-separated list; a server without scheme takes the first's."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    scheme = servers[0].split("://", 1)[0] if servers and "://" in servers[0] else "nats"
    return [server if "://" in server else f"{scheme}://{server}" for server in servers]


class ConnectionEvents:
    """Callbacks of one NATS connection: fail fast before it is up, log after."""

    def __init__(self, client: NATS, safe_url: str, server_count: int) -> None:
        self.client = client
        self.safe_url = safe_url
        self.is_up = False
        self.first_failures: list[BaseException] = []
        self.every_server_refused = asyncio.Event()
        self._server_count = server_count

    async def on_error(self, error: Exception) -> None:
        if not self.is_up:
            self.first_failures.append(error)
            if len(self.first_failures) >= self._server_count:
                self.every_server_refused.set()
            return
        log.warning(
            "bus_connection_error",
            url=self.safe_url,
            error_type=type(error).__name__,
            error=redact(str(error)),
        )

    async def on_disconnected(self) -> None:
        if self.is_up and not self.client.is_closed:
            log.warning("bus_disconnected", url=self.safe_url)

    async def on_reconnected(self) -> None:
        log.info("bus_reconnected", url=self.safe_url)

    async def on_closed(self) -> None:
        log.info("bus_connection_closed", url=self.safe_url)


async def connect_nats(url: str, safe_url: str, *, client_name: str) -> NATS:
    """Connect to the first reachable server of ``url``; raise DependencyUnavailable if none."""
    servers = split_server_urls(url)
    client = NATS()
    events = ConnectionEvents(client, safe_url, len(servers))
    connecting = asyncio.create_task(
        client.connect(
            servers=servers,
            name=client_name,
            error_cb=events.on_error,
            disconnected_cb=events.on_disconnected,
            reconnected_cb=events.on_reconnected,
            closed_cb=events.on_closed,
            allow_reconnect=True,
            connect_timeout=CONNECT_TIMEOUT_S,  # type: ignore[arg-type]
            reconnect_time_wait=RECONNECT_WAIT_S,  # type: ignore[arg-type]
            max_reconnect_attempts=RECONNECT_FOREVER,
            ping_interval=PING_INTERVAL_S,
            max_outstanding_pings=MAX_OUTSTANDING_PINGS,
        ),
        name="bus-nats-connect",
    )
    refused = asyncio.create_task(events.every_server_refused.wait())
    budget_s = CONNECT_TIMEOUT_S * len(servers) + RECONNECT_WAIT_S
    try:
        await asyncio.wait({connecting, refused}, timeout=budget_s, return_when="FIRST_COMPLETED")
    finally:
        refused.cancel()
    if connecting.done() and not connecting.cancelled() and connecting.exception() is None:
        events.is_up = True
        return client
    connecting.cancel()
    await asyncio.gather(connecting, refused, return_exceptions=True)
    await client.close()
    failure = events.first_failures[-1] if events.first_failures else None
    received = (
        f"{type(failure).__name__}: {redact(str(failure))}"
        if failure is not None
        else f"no answer within {budget_s:g} s"
    )
    raise DependencyUnavailable(
        f"a NATS server accepting connections was expected at {safe_url}; received {received}"
    )


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """The JetStream stream that keeps every event of one deployment."""

    name: str
    subjects: tuple[str, ...]
    max_age_s: float
    replicas: int

    def to_config(self, extra_subjects: Iterable[str] = ()) -> api.StreamConfig:
        return api.StreamConfig(
            name=self.name,
            subjects=sorted({*self.subjects, *extra_subjects}),
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            discard=api.DiscardPolicy.OLD,
            max_age=self.max_age_s,
            num_replicas=self.replicas,
            description="ChainFlow events (chainflow.hub.bus)",
        )

    def differs_from(self, existing: api.StreamConfig) -> bool:
        return (
            not set(self.subjects) <= set(existing.subjects or [])
            or existing.retention != api.RetentionPolicy.LIMITS
            or existing.storage != api.StorageType.FILE
            or abs((existing.max_age or 0) - self.max_age_s) > 1e-3
            or (existing.num_replicas or 1) != self.replicas
        )


async def ensure_stream(js: JetStreamContext, plan: StreamPlan) -> api.StreamInfo:
    """Create the stream of ``plan``, or update it when its settings changed.

    Subjects are only ever added: another deployment sharing the stream name with another
    subject prefix keeps its subjects.
    """
    try:
        try:
            existing = await js.stream_info(plan.name)
        except nats.js.errors.NotFoundError:
            return await js.add_stream(plan.to_config())
        if not plan.differs_from(existing.config):
            return existing
        config = plan.to_config(extra_subjects=existing.config.subjects or [])
        log.info("bus_stream_updated", stream=plan.name, subjects=config.subjects)
        return await js.update_stream(config)
    except nats.js.errors.BadRequestError as e:
        raise ConfigurationError(
            f"JetStream stream {plan.name!r} was expected to accept subjects "
            f"{list(plan.subjects)} with file storage and limits retention; the server "
            f"refused: {e.description}"
        ) from e
    except (nats.errors.NoRespondersError, nats.js.errors.ServiceUnavailableError) as e:
        raise DependencyUnavailable(
            "a NATS server with JetStream enabled was expected; received no JetStream answer"
        ) from e
    except nats.errors.Error as e:
        raise DependencyUnavailable(
            f"JetStream stream {plan.name!r} was expected to be ready; received "
            f"{type(e).__name__}: {redact(str(e))}"
        ) from e
