"""Stopping a subscription's worker: the delivery in flight finishes first, within a bound.

``unsubscribe`` (and a bus's ``close``) first stops taking messages. A handler running at
that moment gets up to ``stop_timeout_s`` to return, so that the subscription settles its
message (ack, or nak if it raised) and nobody else processes it again; a handler still
running after that is cancelled and its message nakked for redelivery. The bound is
``min(DEFAULT_STOP_TIMEOUT_S, ack_wait_s)``: past the ack wait the bus redelivers the message
anyway, so waiting longer would only let two consumers process it at the same time.
"""

from __future__ import annotations

import asyncio

DEFAULT_STOP_TIMEOUT_S = 5.0


def stop_timeout_of(ack_wait_s: float) -> float:
    """Return how long a stopping subscription waits for its handler in flight."""
    return min(DEFAULT_STOP_TIMEOUT_S, ack_wait_s)


async def stop_worker(
    worker: asyncio.Task[None] | None, *, in_flight: bool, timeout_s: float
) -> None:
    """Let ``worker`` finish the delivery in flight (up to ``timeout_s``), then cancel it.

    The caller has told the worker to stop taking messages, so a worker with no delivery in
    flight is waiting for the next one and is cancelled at once; a worker that calls this
    on itself leaves its loop once its handler returns.
    """
    if worker is None or worker.done() or worker is asyncio.current_task():
        return
    try:
        if in_flight:
            await asyncio.wait({worker}, timeout=timeout_s)
    finally:
        if not worker.done():
            worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
