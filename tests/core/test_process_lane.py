"""The process lane's workers do not outlive a serving process killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from chainflow.core import process_lane

SERVING = """
import asyncio, os, sys
from chainflow.core import process_lane

process_lane.configure(1)
worker = asyncio.run(process_lane.run_in_process(os.getpid))
print(worker, flush=True)
sys.stdin.read()  # until killed
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone too
        return stat.read().split(") ")[1].split()[0] != "Z"


def test_workers_exit_when_the_serving_process_is_killed() -> None:
    serving = subprocess.Popen(
        [sys.executable, "-c", SERVING],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert serving.stdout is not None
        worker = int(serving.stdout.readline())
        assert worker != serving.pid and _alive(worker)
        serving.send_signal(signal.SIGKILL)
        serving.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker), "the worker outlived its killed parent"
    finally:
        serving.kill()
        serving.wait(timeout=10)


async def test_prepare_starts_the_worker_that_then_runs_the_jobs() -> None:
    process_lane.configure(1)
    process_lane.shutdown()  # no worker yet, whatever ran before in this process
    try:
        pools = process_lane.stats.pools
        assert await process_lane.prepare(os.getpid) is True
        assert process_lane.stats.pools == pools + 1  # spawned by prepare, not by the job
        worker = await process_lane.run_in_process(os.getpid)
        assert worker != os.getpid() and process_lane.stats.pools == pools + 1
    finally:
        process_lane.configure(process_lane.DEFAULT_WORKERS)


async def test_prepare_with_the_lane_off_does_nothing() -> None:
    process_lane.configure(0)
    try:
        assert await process_lane.prepare(os.getpid) is False
    finally:
        process_lane.configure(process_lane.DEFAULT_WORKERS)
