"""Exclusive, expiring leases: a partition is consumed only by the holder of its lease.

A lease is a name held by one holder until it is released or ``ttl_s`` passes without a
renewal. ``acquire`` takes a free (or expired) lease, or extends one the caller already
holds; ``renew`` extends only the caller's own lease; ``release`` frees only the caller's.
On Redis each is one atomic script on ``<prefix>partitions:lease:<name>`` (the value is
the holder, the key's PX expiry is the lease's); in one process a dict with expiry times
from the injected clock. ``open_leases`` picks the backend from the cache URL, as the
registry does, so leases live wherever the registry lives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from chainflow.core.clock import Clock
from chainflow.core.errors import ConfigurationError
from chainflow.core.health import HealthReport
from chainflow.core.logging import redact_url
from chainflow.core.optional import load_backend

MEMORY_SCHEMES = ("memory",)
REDIS_SCHEMES = ("redis", "rediss", "unix")


@runtime_checkable
class LeaseStore(Protocol):
    """Named leases, each held by at most one holder at a time (see the module doc)."""

    backend: str

    async def acquire(self, name: str, holder: str, ttl_s: float) -> bool:
        """Hold ``name`` for ``ttl_s`` if it is free or already ours; return whether held."""
        ...

    async def renew(self, name: str, holder: str, ttl_s: float) -> bool:
        """Extend our lease on ``name``; return False when it is no longer ours."""
        ...

    async def release(self, name: str, holder: str) -> bool:
        """Free ``name`` if it is ours; return whether it was."""
        ...

    async def holder(self, name: str) -> str | None:
        """Return who holds ``name`` now, or None."""
        ...

    async def health(self) -> HealthReport: ...

    async def close(self) -> None: ...


def open_leases(cache_url: str, clock: Clock, key_prefix: str = "") -> LeaseStore:
    """Build the lease store that lives where ``cache_url`` points."""
    scheme = urlsplit(cache_url).scheme.lower()
    if scheme in MEMORY_SCHEMES:
        return InProcessLeases(clock)
    if scheme in REDIS_SCHEMES:
        backend_class = load_backend(
            "chainflow.hub.partitions.redis_leases",
            "RedisLeases",
            library="redis",
            extra="redis",
            purpose=f"partition leases at {redact_url(cache_url)!r}",
        )
        store: LeaseStore = backend_class(cache_url, clock, key_prefix=key_prefix)
        return store
    accepted = ", ".join(f"{s}://" for s in MEMORY_SCHEMES + REDIS_SCHEMES)
    raise ConfigurationError(
        f"lease store URL must start with one of {accepted}; received {redact_url(cache_url)!r}"
    )


def ttl_ms(ttl_s: float) -> int:
    """Return ``ttl_s`` in whole milliseconds (at least 1); refuse a non-positive TTL."""
    if not (ttl_s > 0 and math.isfinite(ttl_s)):
        raise ConfigurationError(
            f"a lease TTL must be a positive number of seconds; received {ttl_s!r}"
        )
    return max(1, round(ttl_s * 1000))


@dataclass(slots=True)
class HeldLease:
    holder: str
    expires_ms: int


class InProcessLeases:
    """Leases of one process: every method runs without an ``await``, so it is atomic."""

    backend = "memory"

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._held: dict[str, HeldLease] = {}

    async def acquire(self, name: str, holder: str, ttl_s: float) -> bool:
        now_ms, expiry_ms = self._clock.now_ms(), ttl_ms(ttl_s)
        current = self._live(name, now_ms)
        if current is not None and current.holder != holder:
            return False
        self._held[name] = HeldLease(holder, now_ms + expiry_ms)
        return True

    async def renew(self, name: str, holder: str, ttl_s: float) -> bool:
        now_ms, expiry_ms = self._clock.now_ms(), ttl_ms(ttl_s)
        current = self._live(name, now_ms)
        if current is None or current.holder != holder:
            return False
        current.expires_ms = now_ms + expiry_ms
        return True

    async def release(self, name: str, holder: str) -> bool:
        current = self._live(name, self._clock.now_ms())
        if current is None or current.holder != holder:
            return False
        del self._held[name]
        return True

    async def holder(self, name: str) -> str | None:
        current = self._live(name, self._clock.now_ms())
        return None if current is None else current.holder

    async def health(self) -> HealthReport:
        return HealthReport(name="leases", ok=True, backend=self.backend)

    async def close(self) -> None:
        self._held.clear()

    def _live(self, name: str, now_ms: int) -> HeldLease | None:
        current = self._held.get(name)
        if current is not None and current.expires_ms <= now_ms:
            del self._held[name]
            return None
        return current
