"""A save sees every bar's run whole: the bar-close steps and the saves of paper books exclude
each other.

A bar's run moves the key's strategy state on, may store a signal and queues its paper
order; the book and the strategy states are saved in one document. A save taken between
those steps would record the strategy state of a bar without its paper order, and after a
crash that bar would be skipped as already run. So a run is a ``step`` (many at once, for
different keys), and a ``save`` waits until no step is midway and holds new steps back
until it has written its documents.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class SaveGate:
    """Steps run together; a save runs alone; see the module doc."""

    def __init__(self) -> None:
        self._steps = 0
        self._saving = False
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def step(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._saving)
            self._steps += 1
        try:
            yield
        finally:
            async with self._changed:
                self._steps -= 1
                self._changed.notify_all()

    @asynccontextmanager
    async def save(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._saving)
            self._saving = True
            try:
                await self._changed.wait_for(lambda: self._steps == 0)
            except BaseException:
                self._saving = False
                self._changed.notify_all()
                raise
        try:
            yield
        finally:
            async with self._changed:
                self._saving = False
                self._changed.notify_all()
