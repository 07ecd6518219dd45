"""A periodic task: every interval, failures logged and survived, stopped cleanly."""

from __future__ import annotations

import asyncio

import pytest

from chainflow.core.periodic import Periodic


async def test_runs_every_interval_survives_failures_and_stops() -> None:
    calls: list[int] = []

    async def action() -> None:
        calls.append(len(calls))
        if len(calls) == 2:
            raise RuntimeError("one bad round")

    periodic = Periodic("test", 0.01, action)
    periodic.start()
    periodic.start()  # a second start is a no-op
    for _ in range(200):
        if len(calls) >= 4:
            break
        await asyncio.sleep(0.01)
    await periodic.stop()
    seen = len(calls)
    await asyncio.sleep(0.05)
    assert seen >= 4 and len(calls) == seen  # nothing after stop
    assert periodic.failures == 1 and not periodic.running


def test_interval_must_be_positive() -> None:
    async def action() -> None:
        return None

    with pytest.raises(ValueError, match="interval_s"):
        Periodic("bad", 0, action)
