"""Attempt throttling in the shared cache: count attempts per key, lock a key for a while.

Each key (an e-mail address, a client address) has a counter that lives for ``window_s``
from its first count. Two ways to count:

- ``admit`` counts an attempt *before* its outcome is known (a sign-in before argon2), so
  that a burst of concurrent attempts cannot get more than ``max_attempts`` through in one
  window. The attempt past the limit is refused and starts the lock. An admitted attempt
  that succeeds takes its count back with ``release``, or wipes the key with ``clear``.
- ``record_failure`` counts a failure after the fact (an unknown token); the failure that
  reaches ``max_attempts`` starts the lock.

A lock lasts ``lock_s``, doubled for every earlier lock of the key within
``STREAK_MEMORY_S`` and capped at ``max_lock_s``; the counter then starts again from zero,
so a key that keeps failing is locked for ever longer. ``clear`` forgets a key's count and
earlier locks, not a lock in force.

Counters and locks live in the ``Cache`` (in-process by default, Redis at scale), so every
process sees the same ones. A lock stores its end (epoch ms from the injected clock), from
which ``retry_after_s`` is exact on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainflow.core.clock import Clock
from chainflow.storage.api import Cache

# How long earlier locks of a key count towards the length of its next one.
STREAK_MEMORY_S = 86_400.0
MS_PER_S = 1000
# Doubling stops long before this; it only keeps 2**n small.
MAX_DOUBLINGS = 32


@dataclass(frozen=True, slots=True)
class AttemptLimit:
    """``max_attempts`` within ``window_s`` lock a key for ``lock_s`` (doubling, capped)."""

    max_attempts: int
    window_s: float
    lock_s: float
    max_lock_s: float

    def lock_length_s(self, earlier_locks: int) -> float:
        """Return how long the lock after ``earlier_locks`` recent ones lasts."""
        doublings = min(max(earlier_locks, 0), MAX_DOUBLINGS)
        return min(self.lock_s * 2**doublings, self.max_lock_s)


@dataclass(frozen=True, slots=True)
class Lock:
    """A lock of a key: how long it lasts and when it ends (epoch ms)."""

    lock_s: float
    locked_until_ms: int


@dataclass(frozen=True, slots=True)
class Admission:
    """``admit``'s answer: let the attempt through, or wait ``retry_after_s``.

    ``started`` is the lock this refusal started (``None`` when the key was locked
    already, or when another process started the lock at the same moment).
    """

    admitted: bool
    retry_after_s: float = 0.0
    started: Lock | None = None


class AttemptThrottle:
    """Attempt counters and locks for the keys of one ``namespace`` under one limit."""

    def __init__(self, cache: Cache, clock: Clock, *, namespace: str, limit: AttemptLimit) -> None:
        self._cache = cache
        self._clock = clock
        self._namespace = namespace
        self.limit = limit

    async def retry_after_s(self, key: str) -> float | None:
        """Return the seconds left on ``key``'s lock, or ``None`` when it is not locked."""
        raw = await self._cache.get(self._lock_key(key))
        if raw is None:
            return None
        left_ms = int(raw) - self._clock.now_ms()
        if left_ms <= 0:
            return None
        return left_ms / MS_PER_S

    async def admit(self, key: str) -> Admission:
        """Count an attempt before its outcome; refuse it past the limit or while locked."""
        locked_for_s = await self.retry_after_s(key)
        if locked_for_s is not None:
            return Admission(admitted=False, retry_after_s=locked_for_s)
        attempts = await self._cache.incr(self._count_key(key), ttl_s=self.limit.window_s)
        if attempts <= self.limit.max_attempts:
            return Admission(admitted=True)
        started = await self._start_lock(key)
        if started is not None:
            return Admission(admitted=False, retry_after_s=started.lock_s, started=started)
        locked_for_s = await self.retry_after_s(key)
        return Admission(admitted=False, retry_after_s=locked_for_s or self.limit.lock_s)

    async def release(self, key: str) -> None:
        """Take back the count of an admitted attempt that did not fail."""
        await self._cache.incr(self._count_key(key), -1, ttl_s=self.limit.window_s)

    async def record_failure(self, key: str) -> Lock | None:
        """Count one failure of ``key``; return the lock it started, if it started one."""
        failures = await self._cache.incr(self._count_key(key), ttl_s=self.limit.window_s)
        if failures < self.limit.max_attempts:
            return None
        return await self._start_lock(key)

    async def clear(self, key: str) -> None:
        """Forget ``key``'s count and earlier locks (a lock in force stays)."""
        await self._cache.delete(self._count_key(key))
        await self._cache.delete(self._streak_key(key))

    async def _start_lock(self, key: str) -> Lock | None:
        earlier = await self._cache.get(self._streak_key(key))
        lock_s = self.limit.lock_length_s(int(earlier) if earlier is not None else 0)
        locked_until_ms = self._clock.now_ms() + round(lock_s * MS_PER_S)
        started = await self._cache.set_if_absent(
            self._lock_key(key), str(locked_until_ms).encode(), ttl_s=lock_s
        )
        if not started:
            return None
        await self._cache.incr(self._streak_key(key), ttl_s=STREAK_MEMORY_S)
        await self._cache.delete(self._count_key(key))
        return Lock(lock_s=lock_s, locked_until_ms=locked_until_ms)

    def _count_key(self, key: str) -> str:
        return f"{self._namespace}:count:{key}"

    def _streak_key(self, key: str) -> str:
        return f"{self._namespace}:locks:{key}"

    def _lock_key(self, key: str) -> str:
        return f"{self._namespace}:locked:{key}"
