"""``BackgroundTasks``: kept until they end, failures logged, the rest cancelled on stop."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from chainflow.core.background import BackgroundTasks


async def test_a_failure_is_logged_with_the_task_name_and_the_task_forgotten() -> None:
    tasks = BackgroundTasks("chainflow.test", "work_failed")

    async def fail() -> None:
        raise RuntimeError("boom")

    with capture_logs() as logs:
        tasks.start(fail(), name="failing-work")
        for _ in range(10):
            await asyncio.sleep(0)
    assert len(tasks) == 0
    (entry,) = [e for e in logs if e["event"] == "work_failed"]
    assert entry["task"] == "failing-work" and entry["log_level"] == "error"


async def test_stop_cancels_what_still_runs_and_waits_for_it() -> None:
    tasks = BackgroundTasks("chainflow.test", "work_failed")
    ended: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise

    async def quick() -> None:
        ended.append("done")

    with capture_logs() as logs:
        tasks.start(forever(), name="forever")
        tasks.start(quick(), name="quick")
        for _ in range(5):  # the task's step, then its done callback
            await asyncio.sleep(0)
        assert len(tasks) == 1  # the quick one ended and was forgotten
        await tasks.stop()
    assert ended == ["done", "cancelled"] and len(tasks) == 0
    assert not [e for e in logs if e["event"] == "work_failed"]  # a cancel is no failure


@pytest.mark.parametrize("count", [0, 3])
async def test_stop_with_nothing_or_only_finished_tasks_returns(count: int) -> None:
    tasks = BackgroundTasks("chainflow.test", "work_failed")

    async def nothing() -> None:
        return None

    for n in range(count):
        tasks.start(nothing(), name=f"n{n}")
    await asyncio.sleep(0)
    await tasks.stop()
    assert len(tasks) == 0
