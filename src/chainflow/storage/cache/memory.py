"""In-process cache: one dict, expiry from the injected clock, atomic under asyncio.

Every operation runs without an ``await`` between its read and its write, so concurrent
tasks on one event loop cannot interleave inside it. Expired entries are dropped when read
and by an amortized sweep: after as many writes as there were entries at the last sweep
(at least ``MIN_WRITES_BETWEEN_SWEEPS``), every entry is checked once. Memory therefore stays
proportional to the live entries plus the writes since the last sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainflow.core.clock import Clock
from chainflow.core.errors import InvalidInput
from chainflow.core.health import HealthReport
from chainflow.storage.api import TokenBucketResult
from chainflow.storage.cache import (
    token_bucket_result,
    validate_bucket_arguments,
    validate_ttl_s,
)

MIN_WRITES_BETWEEN_SWEEPS = 1024
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclass(slots=True)
class TokenBucketState:
    tokens: float
    updated_at_s: float


@dataclass(slots=True)
class CacheEntry:
    value: bytes | TokenBucketState
    expires_at_s: float | None


class InProcessCache:
    """The embedded ``Cache``: a dict of entries whose expiry is read from ``clock``."""

    backend = "memory"

    def __init__(self, clock: Clock, *, key_prefix: str = "") -> None:
        self._clock = clock
        self._key_prefix = key_prefix
        self._entries: dict[str, CacheEntry] = {}
        self._writes_since_sweep = 0
        self._writes_before_next_sweep = MIN_WRITES_BETWEEN_SWEEPS

    async def close(self) -> None:
        """Drop every entry."""
        self._entries.clear()

    async def health(self) -> HealthReport:
        """Report the cache as healthy, with the number of entries held."""
        return HealthReport(
            name="cache", ok=True, backend=self.backend, extra={"entries": len(self._entries)}
        )

    async def get(self, key: str) -> bytes | None:
        """Return the value of ``key``, or None when it is absent or expired."""
        entry = self._live_entry(self._key_prefix + key)
        if entry is None:
            return None
        return self._bytes_of(key, entry)

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        """Store ``value`` under ``key``, replacing any value and any expiry."""
        expires_at_s = self._expiry(ttl_s)
        self._write(self._key_prefix + key, CacheEntry(bytes(value), expires_at_s))

    async def set_if_absent(self, key: str, value: bytes, *, ttl_s: float | None = None) -> bool:
        """Set only if ``key`` is absent; return whether it was set."""
        expires_at_s = self._expiry(ttl_s)
        full_key = self._key_prefix + key
        if self._live_entry(full_key) is not None:
            return False
        self._write(full_key, CacheEntry(bytes(value), expires_at_s))
        return True

    async def delete(self, key: str) -> bool:
        """Delete ``key``; return whether it existed."""
        full_key = self._key_prefix + key
        existed = self._live_entry(full_key) is not None
        self._entries.pop(full_key, None)
        return existed

    async def incr(self, key: str, amount: int = 1, *, ttl_s: float | None = None) -> int:
        """Add ``amount`` atomically and return the new value; ``ttl_s`` applies on creation."""
        expires_at_s = self._expiry(ttl_s)
        full_key = self._key_prefix + key
        entry = self._live_entry(full_key)
        if entry is None:
            current = 0
        else:
            raw = self._bytes_of(key, entry)
            try:
                current = int(raw)
            except ValueError as e:
                raise InvalidInput(
                    f"cache key {key!r} must hold an integer to be incremented; "
                    f"received a value of {len(raw)} bytes that is not one"
                ) from e
            expires_at_s = entry.expires_at_s
        new_value = current + amount
        if not INT64_MIN <= new_value <= INT64_MAX:
            raise InvalidInput(
                f"cache counter {key!r} must stay within signed 64 bits; "
                f"incrementing by {amount} would make it {new_value}"
            )
        self._write(full_key, CacheEntry(str(new_value).encode(), expires_at_s))
        return new_value

    async def take_token(
        self, key: str, *, capacity: float, refill_per_s: float, cost: float = 1.0
    ) -> TokenBucketResult:
        """Take ``cost`` tokens from the bucket at ``key`` if it holds that many."""
        validate_bucket_arguments(capacity=capacity, refill_per_s=refill_per_s, cost=cost)
        now_s = self._clock.monotonic()
        full_key = self._key_prefix + key
        entry = self._live_entry(full_key)
        if entry is None:
            tokens = capacity
        elif isinstance(entry.value, TokenBucketState):
            elapsed_s = max(0.0, now_s - entry.value.updated_at_s)
            tokens = min(capacity, entry.value.tokens + elapsed_s * refill_per_s)
        else:
            raise InvalidInput(
                f"cache key {key!r} must hold a token bucket to take tokens; "
                "received a key that holds a plain value"
            )
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        # The bucket is forgotten once full again: a missing bucket reads as full.
        expires_at_s = now_s + max((capacity - tokens) / refill_per_s, 0.001)
        self._write(full_key, CacheEntry(TokenBucketState(tokens, now_s), expires_at_s))
        return token_bucket_result(
            allowed=allowed,
            remaining=tokens,
            capacity=capacity,
            refill_per_s=refill_per_s,
            cost=cost,
        )

    def _expiry(self, ttl_s: float | None) -> float | None:
        validate_ttl_s(ttl_s)
        if ttl_s is None:
            return None
        return self._clock.monotonic() + ttl_s

    def _live_entry(self, full_key: str) -> CacheEntry | None:
        entry = self._entries.get(full_key)
        if entry is None:
            return None
        if entry.expires_at_s is not None and entry.expires_at_s <= self._clock.monotonic():
            del self._entries[full_key]
            return None
        return entry

    def _bytes_of(self, key: str, entry: CacheEntry) -> bytes:
        if isinstance(entry.value, TokenBucketState):
            raise InvalidInput(
                f"cache key {key!r} must hold a plain value; received a key that holds "
                "a token bucket"
            )
        return entry.value

    def _write(self, full_key: str, entry: CacheEntry) -> None:
        self._entries[full_key] = entry
        self._writes_since_sweep += 1
        if self._writes_since_sweep >= self._writes_before_next_sweep:
            self._sweep_expired()

    def _sweep_expired(self) -> None:
        now_s = self._clock.monotonic()
        expired = [
            k
            for k, e in self._entries.items()
            if e.expires_at_s is not None and e.expires_at_s <= now_s
        ]
        for full_key in expired:
            del self._entries[full_key]
        self._writes_since_sweep = 0
        self._writes_before_next_sweep = max(MIN_WRITES_BETWEEN_SWEEPS, len(self._entries))
