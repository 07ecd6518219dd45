"""Tasks started in the background and kept until they end: their failures are logged.

A task nobody awaits loses its exception (asyncio only warns when it is collected), and a
task nobody references may be collected while it runs. ``BackgroundTasks`` keeps each task
it starts until it ends, logs the failure of one under its owner's event name, and cancels
and awaits the ones still running on ``stop``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from chainflow.core.logging import get_logger


class BackgroundTasks:
    """The running background tasks of one owner; see the module doc."""

    def __init__(self, logger: str, failed_event: str) -> None:
        self._log = get_logger(logger)
        self._failed_event = failed_event
        self._tasks: set[asyncio.Task[object]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, work: Coroutine[Any, Any, object], *, name: str) -> None:
        """Run ``work`` in a task of its own (what it returns is dropped)."""
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error(self._failed_event, task=task.get_name(), exc_info=task.exception())

    async def stop(self) -> None:
        """Cancel the tasks still running and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
