"""State builds in a worker process: replays leave the serving interpreter entirely.

A state build replays thousands of stored bars through pure-Python indicator code (a
key's features in seven timeframes: about 250 ms of CPU per timeframe). In a thread
(``python_lane``) that work still holds the GIL the event loop needs to answer ticks, so
300 keys warming at once slowed every tick of every tenant for minutes. Here the replay
runs in a separate process on the other core: the serving loop pays only for sending the
bars (NumPy columns) and restoring the state the worker returns (a snapshot: a few
milliseconds), and starts that between two ticks (``hot_path.gate().turn()``).

Jobs have a priority: a state build a tick is waiting for (``URGENT``: the tick path's key
state) goes to the next free worker before warm-ups no tick waits for (``BACKGROUND``:
the features service's timeframes). Each event loop hands the pool at most one job per
worker and keeps the rest in its own priority queue, so an urgent job never waits behind
a backlog already submitted.

One pool per Python process, made on first use and shared by every service in it; its
workers are spawned (never forked from a process running threads and an event loop) and
kept for the life of the process. ``configure(0)`` turns the process lane off: jobs then
run on the thread lane (``python_lane.run_python``), as before. A worker that dies (killed,
out of memory) breaks the pool: the job runs again on the thread lane and the next job
makes a new pool, so a build is never lost to a dead worker.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import heapq
import itertools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import structlog

from chainflow.core import hot_path
from chainflow.core.python_lane import run_python

T = TypeVar("T")

DEFAULT_WORKERS = 1
URGENT = 0
BACKGROUND = 1

log = structlog.get_logger(__name__)

_lock = threading.Lock()
_workers = DEFAULT_WORKERS
_pool: ProcessPoolExecutor | None = None


class ProcessLaneStats:
    """Jobs run in a worker, and jobs that fell back to the thread lane (dead worker)."""

    def __init__(self) -> None:
        self.jobs = 0
        self.fallbacks = 0
        self.pools = 0


stats = ProcessLaneStats()


def configure(workers: int) -> None:
    """Set the number of worker processes (0: jobs run on the thread lane)."""
    if workers < 0:
        raise ValueError(f"expected workers >= 0; received {workers}")
    global _workers
    with _lock:
        if workers != _workers:
            _shutdown_locked()
        _workers = workers


def workers() -> int:
    return _workers


def _pool_now() -> ProcessPoolExecutor | None:
    global _pool
    with _lock:
        if _workers == 0:
            return None
        if _pool is None:
            context = multiprocessing.get_context("spawn")
            _pool = ProcessPoolExecutor(
                max_workers=_workers,
                mp_context=context,
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
            stats.pools += 1
        return _pool


PARENT_CHECK_S = 0.5


def _exit_with_parent(parent_pid: int) -> None:
    """In a worker: exit once the serving process is gone. A parent killed with SIGKILL
    never shuts the pool down, and its workers would wait on their queue for ever."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="process-lane.parent", daemon=True).start()


def _discard(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


def _shutdown_locked() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


@atexit.register
def shutdown() -> None:
    """Stop the workers (at interpreter exit, or to start afresh)."""
    with _lock:
        _shutdown_locked()


class _Slots:
    """One event loop's jobs in the pool (at most one per worker) and its waiting jobs,
    best priority first, then in arrival order."""

    def __init__(self) -> None:
        self.busy = 0
        self.waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self.arrivals = itertools.count()

    async def acquire(self, priority: int) -> None:
        if self.busy < max(_workers, 1) and not self.waiting:
            self.busy += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self.waiting, (priority, next(self.arrivals), waiter))
        try:
            await waiter  # release() hands its slot over: busy stays counted
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot while being cancelled: pass it on
            raise

    def release(self) -> None:
        while self.waiting:
            _, _, waiter = heapq.heappop(self.waiting)
            if not waiter.done():
                waiter.set_result(None)
                return
        self.busy -= 1


_slots: dict[asyncio.AbstractEventLoop, _Slots] = {}


def _slots_of(loop: asyncio.AbstractEventLoop) -> _Slots:
    slots = _slots.get(loop)
    if slots is None:
        for stale in [other for other in _slots if other.is_closed()]:
            del _slots[stale]
        slots = _slots[loop] = _Slots()
    return slots


async def prepare(function: Callable[[], object]) -> bool:
    """Start the pool now and run ``function`` (a module-level warm-up: imports, compiled
    kernels) in each worker; return whether the process lane is on.

    A worker spawned on a job's demand pays the interpreter's start, the imports and the
    kernels' compilation (seconds) before that job: a service calls this at its start, in
    the background, so that the first real build (a partition taken from a killed replica,
    a new tenant's first bar) does not wait for them.
    """
    pool = _pool_now()
    if pool is None:
        return False
    loop = asyncio.get_running_loop()
    try:
        await asyncio.gather(*(loop.run_in_executor(pool, function) for _ in range(_workers)))
    except BrokenProcessPool:
        _discard(pool)  # the next job makes a new pool
        return False
    return True


async def run_in_process(function: Callable[..., T], *args: Any, priority: int = BACKGROUND) -> T:
    """Run ``function(*args)`` in a worker process, ``URGENT`` jobs before ``BACKGROUND``
    ones; on the thread lane when the process lane is off or its worker died. ``function``
    and ``args`` must pickle (a module-level function; plain data and NumPy arrays), and so
    must the result."""
    if _pool_now() is None:
        return await run_python(functools.partial(function, *args))
    loop = asyncio.get_running_loop()
    slots = _slots_of(loop)
    await slots.acquire(priority)
    try:
        pool = _pool_now()
        if pool is None:  # turned off while waiting
            return await run_python(functools.partial(function, *args))
        await hot_path.gate().turn()  # sending the job and taking its result cost the loop
        try:
            result = await loop.run_in_executor(pool, functools.partial(function, *args))
        except BrokenProcessPool:
            stats.fallbacks += 1
            log.warning("process_lane_worker_died", function=function.__qualname__)
            _discard(pool)
            return await run_python(functools.partial(function, *args))
    finally:
        slots.release()
    stats.jobs += 1
    await hot_path.gate().turn()  # the caller restores the result on the loop next
    return result
