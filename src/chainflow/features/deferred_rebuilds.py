"""Revisions of older bars, coalesced into one rebuild per key.

A late tick revises a bar that closed before the last one the features service applied;
the state from before that bar is gone, so the key's pipeline must be rebuilt from the
stored bars (hundreds of bars replayed). A terminal that resends a burst, or a history
replay at full speed, revises bar after bar: rebuilding on each revision spent minutes of
CPU on a one-day replay (2,995 rebuilds for 26,136 ticks). ``DeferredRebuilds`` collects a
key's revisions instead — the earliest revised bar wins — and runs one rebuild once no
revision came for ``quiet_s`` (at most ``max_wait_s`` after the first), from the bars
stored by then, which hold every revision. Bars after the last applied one keep being
applied meanwhile; the rebuild republishes the revised bar and every later one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from chainflow.core.logging import get_logger

log = get_logger("chainflow.features.deferred_rebuilds")

K = TypeVar("K")
Rebuild = Callable[[K, int], Awaitable[None]]


class DeferredRebuilds(Generic[K]):
    """Per-key debounced rebuilds from the earliest revised bar; see the module doc."""

    def __init__(
        self,
        rebuild: Rebuild[K],
        *,
        quiet_s: float = 0.25,
        max_wait_s: float = 2.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._rebuild = rebuild
        self._quiet_s, self._max_wait_s = quiet_s, max_wait_s
        self._now = clock or (lambda: asyncio.get_running_loop().time())
        self._since: dict[K, int] = {}  # earliest revised bar of each key waiting
        self._last_mark: dict[K, float] = {}
        self._tasks: dict[K, asyncio.Task[None]] = {}
        self._stopping = False
        self.marked = 0
        self.rebuilt = 0

    def pending(self, key: K) -> int | None:
        """Return the earliest revised bar of ``key`` waiting for its rebuild."""
        return self._since.get(key)

    def mark(self, key: K, bar_ts: int) -> None:
        """Note that ``key``'s bar at ``bar_ts`` was revised; rebuild it soon."""
        self.marked += 1
        since = self._since.get(key)
        self._since[key] = bar_ts if since is None else min(since, bar_ts)
        self._last_mark[key] = self._now()
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._run(key), name="features-rebuild")

    async def stop(self) -> None:
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run(self, key: K) -> None:
        first = self._now()
        try:
            while True:
                quiet_until = self._last_mark[key] + self._quiet_s
                deadline = first + self._max_wait_s
                delay = min(quiet_until, deadline) - self._now()
                if delay <= 0:
                    break
                await asyncio.sleep(delay)
            since = self._since.pop(key)
            self._last_mark.pop(key, None)
            await self._rebuild(key, since)
            self.rebuilt += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("features_deferred_rebuild_failed", key=str(key))
        finally:
            del self._tasks[key]
            if key in self._since and not self._stopping:  # revised again meanwhile
                self._tasks[key] = asyncio.create_task(self._run(key), name="features-rebuild")
