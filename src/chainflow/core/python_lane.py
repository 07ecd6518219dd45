"""One worker thread at a time for pure-Python work that must leave the event loop.

A feature rebuild replays hundreds of bars through Python code; in a worker thread the
event loop keeps serving ticks, but only while it holds the GIL. Each extra thread running
Python takes another share of the GIL from the loop (six rebuilds at once left the loop a
seventh of the interpreter), so this lane runs such work one job at a time per process:
catching up takes as long as before in total, and the loop never waits behind more than
one thread for the GIL (the serving switch interval bounds that wait, ``runtime.server``).
Work that releases the GIL (NumPy, ONNX Runtime, DuckDB, argon2) does not need the lane.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from chainflow.core import hot_path

T = TypeVar("T")

_lanes: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


async def run_python(function: Callable[[], T]) -> T:
    """Run ``function()`` in a worker thread, one at a time on this event loop."""
    loop = asyncio.get_running_loop()
    lane = _lanes.get(loop)
    if lane is None:
        for stale in [other for other in _lanes if other.is_closed()]:
            del _lanes[stale]
        lane = _lanes[loop] = asyncio.Semaphore(1)
    async with lane:
        await hot_path.gate().turn()  # a job holds the GIL often: start it between ticks
        return await asyncio.to_thread(function)
