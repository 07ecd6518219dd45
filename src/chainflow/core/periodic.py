"""A coroutine run every N seconds in its own task, until stopped.

Meters flush their counts, schedulers look for due work, snapshots refresh: each is "every
``interval_s``, run this; a failure is logged and the next round runs anyway". ``stop``
cancels the task; the owner then does its last round itself if it needs one (a meter's final
flush).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from chainflow.core.logging import get_logger

log = get_logger("chainflow.core.periodic")


class Periodic:
    """Run ``action`` every ``interval_s`` seconds (first after one interval)."""

    def __init__(
        self, name: str, interval_s: float, action: Callable[[], Awaitable[object]]
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"expected interval_s > 0; received {interval_s}")
        self.name = name
        self.interval_s = interval_s
        self._action = action
        self._task: asyncio.Task[None] | None = None
        self.failures = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._action()
            except Exception as e:  # the next round runs anyway
                self.failures += 1
                log.error("periodic_failed", task=self.name, error=f"{type(e).__name__}: {e}")
