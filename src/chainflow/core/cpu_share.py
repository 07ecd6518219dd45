"""Each tenant's share of the process's CPU on the hot path, as a token bucket.

Rate limits bound ticks per second, not what they cost: one enterprise tenant replaying
history at 2,000 ticks/s can take a core on its own (ingest, forming bars, scoring, bar
closes), and every other tenant's ticks then queue behind it. ``CpuShares`` meters the
time spent on each tenant's frames and ticks (``charge``) against the share of one core
its tier allows (``TierLimits.cpu_share``, CPU-seconds per second), with a burst of
``burst_s`` seconds of that share. The WebSocket reading a tenant's frames waits in
``admit`` before reading the next one while the tenant is over its share, so TCP slows
only that tenant's terminal: nobody else waits, nothing is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_SHARE = 0.5  # of one core, for tenants whose tier was never declared here
DEFAULT_BURST_S = 2.0
MAX_WAIT_S = 1.0  # one admit never waits longer; the next frame is metered again


@dataclass(slots=True)
class _Bucket:
    share: float
    tokens: float
    at: float
    charged: float = 0.0  # CPU-seconds in all
    throttled: float = 0.0  # seconds its frames waited in ``admit``


class CpuShares:
    """Per-tenant CPU buckets; see the module doc."""

    def __init__(
        self,
        *,
        burst_s: float = DEFAULT_BURST_S,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if burst_s <= 0:
            raise ValueError(f"expected burst_s > 0; received {burst_s}")
        self._burst_s = burst_s
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def declare(self, tenant_id: str, share: float) -> None:
        """Set the tenant's share (CPU-seconds per second; ``<= 0`` or inf: unmetered)."""
        bucket = self._bucket(tenant_id)
        bucket.share = share

    def charge(self, tenant_id: str, seconds: float) -> None:
        """Record ``seconds`` of work done for the tenant."""
        if seconds <= 0:
            return
        bucket = self._refill(self._bucket(tenant_id))
        bucket.tokens -= seconds
        bucket.charged += seconds

    def delay_of(self, tenant_id: str) -> float:
        """Seconds the tenant must wait until its bucket is no longer in debt."""
        bucket = self._buckets.get(tenant_id)
        if bucket is None or not _metered(bucket.share):
            return 0.0
        self._refill(bucket)
        return 0.0 if bucket.tokens >= 0 else -bucket.tokens / bucket.share

    async def admit(self, tenant_id: str) -> float:
        """Wait while the tenant is over its share (at most ``MAX_WAIT_S``); return the wait."""
        delay = min(self.delay_of(tenant_id), MAX_WAIT_S)
        if delay <= 0:
            return 0.0
        self._buckets[tenant_id].throttled += delay
        await asyncio.sleep(delay)
        return delay

    def usage(self, tenant_id: str) -> tuple[float, float]:
        """Return (CPU-seconds charged, seconds throttled) of the tenant so far."""
        bucket = self._buckets.get(tenant_id)
        return (bucket.charged, bucket.throttled) if bucket is not None else (0.0, 0.0)

    def _bucket(self, tenant_id: str) -> _Bucket:
        bucket = self._buckets.get(tenant_id)
        if bucket is None:
            now = self._clock()
            bucket = _Bucket(DEFAULT_SHARE, DEFAULT_SHARE * self._burst_s, now)
            self._buckets[tenant_id] = bucket
        return bucket

    def _refill(self, bucket: _Bucket) -> _Bucket:
        now = self._clock()
        if _metered(bucket.share):
            capacity = bucket.share * self._burst_s
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * bucket.share)
        bucket.at = now
        return bucket


def _metered(share: float) -> bool:
    return 0 < share < float("inf")
