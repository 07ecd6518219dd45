"""One pooled connection to a Redis-protocol server (Redis or DragonflyDB).

Shared by every Redis-backed store (the cache here, the hub's registry): the bounded pool,
timeouts and retries, the PING health check, and the translation of driver errors into
``DependencyUnavailable`` with the URL's password never shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import redis.asyncio as redis_asyncio
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from chainflow.core.clock import Clock
from chainflow.core.errors import DependencyUnavailable
from chainflow.core.health import HealthReport
from chainflow.core.logging import REDACTED, redact, redact_url

DEFAULT_TIMEOUT_S = 5.0


class RedisConnection:
    """A bounded connection pool to ``url`` used by the store named ``purpose``."""

    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        purpose: str,
        health_name: str,
        max_connections: int,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._clock = clock
        self._purpose = purpose
        self._health_name = health_name
        self.safe_url = redact_url(url)
        self._password = urlsplit(url).password
        self._pool = redis_asyncio.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), retries=2),
        )
        self.client = redis_asyncio.Redis(connection_pool=self._pool)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.client.aclose()
        await self._pool.aclose()

    async def health(self) -> HealthReport:
        """PING the server and report the round trip in milliseconds."""
        started_s = self._clock.monotonic()
        try:
            with self.translated_errors():
                await self.client.ping()
        except DependencyUnavailable as e:
            return HealthReport(
                name=self._health_name,
                ok=False,
                backend="redis",
                detail=e.message,
                extra={"url": self.safe_url},
            )
        return HealthReport(
            name=self._health_name,
            ok=True,
            backend="redis",
            latency_ms=(self._clock.monotonic() - started_s) * 1000,
            extra={"url": self.safe_url},
        )

    @contextmanager
    def translated_errors(self) -> Iterator[None]:
        """Turn connection and server errors into ``DependencyUnavailable``."""
        try:
            yield
        except (RedisError, OSError) as e:
            raise self.unavailable(e) from e

    def unavailable(self, error: Exception) -> DependencyUnavailable:
        reason = str(redact(str(error)) or type(error).__name__)
        if self._password:
            reason = reason.replace(self._password, REDACTED)
        return DependencyUnavailable(
            f"{self._purpose} at {self.safe_url} is unavailable: expected a Redis-protocol "
            f"server to answer; received {type(error).__name__}: {reason}"
        )
