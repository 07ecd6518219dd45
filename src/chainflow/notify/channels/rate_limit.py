"""A small async rate limiter: one global rate and one rate per key (e.g. per chat).

Each ``acquire(key)`` reserves the earliest instant that respects both the key's spacing
(``1 / per_key_rate``) and the global spacing (``1 / global_rate``) and sleeps until then.
Reservations are made synchronously (no await between reading and writing the schedule),
so concurrent senders on one event loop never share a slot. ``pause`` pushes a key (or
every key) back after a provider's ``retry_after``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from chainflow.core.clock import Clock

__all__ = ["SendRateLimiter"]

_PRUNE_EVERY = 1024


class SendRateLimiter:
    """Spaces sends to at most ``global_rate`` per second overall and ``per_key_rate`` per key."""

    def __init__(
        self,
        *,
        global_rate: float,
        per_key_rate: float,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if global_rate <= 0 or per_key_rate <= 0:
            raise ValueError(
                f"rates must be positive; received global={global_rate}, per key={per_key_rate}"
            )
        self._global_gap = 1.0 / global_rate
        self._key_gap = 1.0 / per_key_rate
        self._clock = clock
        self._sleep = sleep
        self._global_next = 0.0
        self._key_next: dict[str, float] = {}
        self._reservations = 0

    def reserve(self, key: str) -> float:
        """Reserve the next slot for ``key``; return how many seconds to wait for it."""
        now = self._clock.monotonic()
        slot = max(now, self._key_next.get(key, 0.0), self._global_next)
        self._global_next = slot + self._global_gap
        self._key_next[key] = slot + self._key_gap
        self._reservations += 1
        if self._reservations % _PRUNE_EVERY == 0:
            self._prune(now)
        return slot - now

    async def acquire(self, key: str) -> None:
        """Wait until ``key`` may send once more."""
        delay = self.reserve(key)
        if delay > 0:
            await self._sleep(delay)

    def pause(self, seconds: float, key: str | None = None) -> None:
        """Allow no send for ``key`` (or for any key when ``None``) for ``seconds``."""
        until = self._clock.monotonic() + max(seconds, 0.0)
        if key is None:
            self._global_next = max(self._global_next, until)
        else:
            self._key_next[key] = max(self._key_next.get(key, 0.0), until)

    def _prune(self, now: float) -> None:
        expired = [key for key, at in self._key_next.items() if at <= now]
        for key in expired:
            del self._key_next[key]
