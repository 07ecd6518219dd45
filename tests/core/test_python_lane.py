"""Pure-Python background work runs one job at a time per event loop."""

from __future__ import annotations

import asyncio
import threading
import time

from chainflow.core.python_lane import run_python


async def test_jobs_never_overlap_and_the_loop_stays_free() -> None:
    running, overlaps = [0], [0]
    lock = threading.Lock()

    def job() -> int:
        with lock:
            running[0] += 1
            overlaps[0] = max(overlaps[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return 7

    ticks = 0

    async def loop_work() -> None:
        nonlocal ticks
        for _ in range(20):
            await asyncio.sleep(0.005)
            ticks += 1

    results, _ = await asyncio.gather(
        asyncio.gather(*(run_python(job) for _ in range(5))), loop_work()
    )
    assert results == [7] * 5
    assert overlaps[0] == 1
    assert ticks == 20
