"""The handoff between the ml service's bus handlers and its inference worker.

A partition consumer's handler queues its vector and waits until the worker has served it,
so that the bus acks the message after serving (the prediction published and stored), not
when it is queued: a replica killed with vectors queued leaves them unacked, redelivered
to the partition's next owner. Each partition consumer has one message in flight, so the
queue holds at most one vector per partition and the worker's batch gathers the
partitions' current vectors (one ONNX Runtime call per model for all of them).

The worker serves only the vectors of partitions its replica still serves: one whose
partition's lease was lost (or whose replica stops without release, a crash) is given up
unserved and its message nakked for the next owner, which then gets the partition's next
message only after it (one in flight per partition): each key stays in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from chainflow.features.api import FeaturesComputed
from chainflow.hub.api import BusMessage

QUEUE_LIMIT = 10_000  # far above one vector per partition; a handler waits beyond it


@dataclass(eq=False, slots=True)
class QueuedVector:
    """A vector waiting for the worker; ``served`` is True once served (its message is then
    acked), False when given up (nakked for the partition's next owner)."""

    vector: FeaturesComputed
    served: asyncio.Future[bool]


class Handoff:
    """The queue of vectors waiting to be served, each with the handler waiting for it."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[QueuedVector] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self.given_up = 0  # vectors not served here: nakked for their partition's next owner

    @property
    def waiting(self) -> int:
        """Vectors queued and not yet taken by the worker."""
        return self._queue.qsize()

    async def hand(self, vector: FeaturesComputed, message: BusMessage) -> None:
        """Queue ``vector`` and return once it is served (the bus then acks ``message``),
        or nak ``message`` when the worker gave the vector up. A handler cancelled while it
        waits (its subscription stopping) cancels the wait too: the worker skips the vector
        and the bus naks the message."""
        queued = QueuedVector(vector, asyncio.get_running_loop().create_future())
        await self._queue.put(queued)
        if not await queued.served:
            await message.nak()  # given up unserved: for the partition's next owner

    async def take(self, limit: int, serves: Callable[[str], bool]) -> list[QueuedVector]:
        """Wait for vectors and return up to ``limit`` of them to serve now: those whose
        tenant this replica still ``serves``; the others are given up (and those whose
        handler is gone skipped). Call ``done`` with the result once they are served."""
        taken = [await self._queue.get()]
        while len(taken) < limit and not self._queue.empty():
            taken.append(self._queue.get_nowait())
        batch: list[QueuedVector] = []
        for queued in taken:
            if queued.served.done():
                pass  # its handler was cancelled: the bus nakked the message
            elif serves(queued.vector.tenant_id):
                batch.append(queued)
            else:
                queued.served.set_result(False)  # its lease lost, or a crash: not ours now
                self.given_up += 1
        for _ in range(len(taken) - len(batch)):
            self._queue.task_done()
        return batch

    def done(self, batch: list[QueuedVector]) -> None:
        """Mark ``batch`` served: its handlers return and the bus acks their messages."""
        for queued in batch:
            if not queued.served.done():
                queued.served.set_result(True)
            self._queue.task_done()

    async def join(self) -> None:
        """Wait until every queued vector is served or given up."""
        await self._queue.join()
