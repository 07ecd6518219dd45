"""Tick→signal latency per tenant, from the per-tick ``signal`` frames' ``latency_ms``.

The trading service publishes every per-tick frame on ``trading.connection.<tenant>.<conn>``
(JSON lines, DESIGN.md §4 ``signal`` frames); analytics subscribes to all of them. Each
tenant keeps, in bounded memory, exact counts (total, sum, min, max, a fixed-bucket
histogram) and a uniform reservoir sample (Vitter's algorithm R) of ``reservoir`` values
from which the percentiles are read: exact while fewer frames than that were seen,
a uniform sample after.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from chainflow.core.messages import unescape_token

BUCKET_BOUNDS_MS: tuple[float, ...] = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)
PERCENTILES = (50, 90, 99)


@dataclass(slots=True)
class TenantLatency:
    """One tenant's latency counts and reservoir."""

    capacity: int
    count: int = 0
    total_ms: float = 0.0
    min_ms: float = math.inf
    max_ms: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKET_BOUNDS_MS) + 1))
    sample: list[float] = field(default_factory=list)

    def add(self, value_ms: float, rng: random.Random) -> None:
        self.count += 1
        self.total_ms += value_ms
        self.min_ms = min(self.min_ms, value_ms)
        self.max_ms = max(self.max_ms, value_ms)
        self.buckets[bisect.bisect_left(BUCKET_BOUNDS_MS, value_ms)] += 1
        if len(self.sample) < self.capacity:
            self.sample.append(value_ms)
            return
        slot = rng.randrange(self.count)
        if slot < self.capacity:
            self.sample[slot] = value_ms


def percentile(sorted_values: list[float], q: float) -> float:
    """Return the ``q``-th percentile (linear interpolation, as NumPy's default)."""
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def frame_latencies(data: bytes) -> Iterator[float]:
    """Yield the ``latency_ms`` of each ``signal`` frame of a connection message."""
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            frame = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(frame, dict) or frame.get("type") != "signal":
            continue
        value = frame.get("latency_ms")
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            if math.isfinite(value):
                yield float(value)


def tenant_of_connection_subject(subject: str) -> str | None:
    """Return the tenant of ``trading.connection.<tenant>.<connection>``, else None."""
    parts = subject.split(".")
    if len(parts) != 4 or parts[:2] != ["trading", "connection"]:
        return None
    return unescape_token(parts[2])


class LatencyRecorder:
    """Every tenant's tick→signal latency; see the module doc."""

    def __init__(self, *, reservoir: int = 1024, seed: int = 0) -> None:
        self._capacity = reservoir
        self._rng = random.Random(seed)
        self._tenants: dict[str, TenantLatency] = {}

    def record(self, tenant_id: str, value_ms: float) -> None:
        """Count one frame's latency for the tenant."""
        found = self._tenants.get(tenant_id)
        if found is None:
            found = self._tenants[tenant_id] = TenantLatency(self._capacity)
        found.add(value_ms, self._rng)

    def record_message(self, subject: str, data: bytes) -> int:
        """Count the frames of one connection message; return how many were counted."""
        tenant_id = tenant_of_connection_subject(subject)
        if tenant_id is None:
            return 0
        counted = 0
        for value in frame_latencies(data):
            self.record(tenant_id, value)
            counted += 1
        return counted

    def summary(self, tenant_id: str) -> dict[str, object]:
        """Return the tenant's distribution: counts, mean, min, max, percentiles, histogram."""
        found = self._tenants.get(tenant_id)
        if found is None or found.count == 0:
            empty = dict.fromkeys(("mean_ms", "min_ms", "max_ms"))
            percentiles = {f"p{q}_ms": None for q in PERCENTILES}
            histogram = _histogram([0] * (len(BUCKET_BOUNDS_MS) + 1))
            return {"count": 0, "sampled": 0, **empty, **percentiles, "histogram": histogram}
        ordered = sorted(found.sample)
        return {
            "count": found.count,
            "sampled": len(ordered),
            "mean_ms": found.total_ms / found.count,
            "min_ms": found.min_ms,
            "max_ms": found.max_ms,
            **{f"p{q}_ms": percentile(ordered, q) for q in PERCENTILES},
            "histogram": _histogram(found.buckets),
        }


def _histogram(buckets: list[int]) -> list[dict[str, object]]:
    bounds: list[float | None] = [*BUCKET_BOUNDS_MS, None]
    return [{"le_ms": bound, "count": count} for bound, count in zip(bounds, buckets, strict=True)]
