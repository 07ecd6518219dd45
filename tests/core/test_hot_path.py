"""The hot path's gate: background work runs between ticks, and is never starved."""

from __future__ import annotations

import asyncio
import time

import pytest

from chainflow.core import hot_path
from chainflow.core.hot_path import HotPathGate
from chainflow.hub.api import BusMessage
from chainflow.hub.bus.memory import InProcessBus


async def test_an_idle_hot_path_lets_background_work_run_at_once() -> None:
    gate = HotPathGate(max_wait_s=5.0)
    began = time.perf_counter()
    await gate.turn()
    assert time.perf_counter() - began < 0.05 and gate.waits == 0


async def test_background_work_waits_until_the_hot_path_drains() -> None:
    gate = HotPathGate(max_wait_s=5.0)
    gate.enter()
    waiting = asyncio.create_task(gate.turn())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    gate.leave()
    await asyncio.wait_for(waiting, 1.0)
    assert gate.waits == 1 and gate.timeouts == 0


async def test_a_busy_hot_path_delays_background_work_by_at_most_max_wait() -> None:
    gate = HotPathGate(max_wait_s=0.03)
    gate.enter()
    began = time.perf_counter()
    await gate.turn()
    waited = time.perf_counter() - began
    assert 0.025 <= waited < 0.5
    assert gate.timeouts == 1 and gate.hot


def test_max_wait_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_wait_s > 0"):
        HotPathGate(max_wait_s=0)


async def test_one_gate_per_event_loop() -> None:
    assert hot_path.gate() is hot_path.gate()


async def test_durable_consumers_take_their_turn_after_the_hot_path() -> None:
    """A message for a durable consumer published while ticks are queued is handled
    once the hot path drains; a live subscription (the tick path's kind) is not held."""
    bus = InProcessBus()
    gate = hot_path.gate()
    max_wait_s, gate.max_wait_s = gate.max_wait_s, 30.0  # held until leave(), however slow
    durable: list[float] = []
    live: list[float] = []

    async def on_durable(_message: BusMessage) -> None:
        durable.append(time.perf_counter())

    async def on_live(_message: BusMessage) -> None:
        live.append(time.perf_counter())

    await bus.subscribe("bars.x", on_durable, durable="bar-close")
    await bus.subscribe("ticks.x", on_live)
    gate.enter()
    try:
        await bus.publish("bars.x", b"1")
        await bus.publish("ticks.x", b"1")
        await asyncio.sleep(0.005)
        assert live and not durable  # the bar waits while the hot path is busy
        gate.leave()
        for _ in range(100):
            if durable:
                break
            await asyncio.sleep(0.005)
        assert durable
    finally:
        gate.leave()
        gate.max_wait_s = max_wait_s
        await bus.close()
