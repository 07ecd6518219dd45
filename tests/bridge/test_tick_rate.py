"""The tick rate keeps order: nothing after a refused tick is taken before its resend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chainflow.bridge.tick_rate import RESEND_WAIT_MS, TickRateGate
from chainflow.core.clock import SimulatedClock
from chainflow.core.market import Tick
from chainflow.core.settings import CacheSettings
from chainflow.storage.cache import open_cache

START_MS = 1_800_000_000_000


def frame(first_seq: int, count: int) -> list[tuple[Tick, int | None]]:
    return [
        (Tick("EURUSD", START_MS + seq, 1.1, 1.1001, 1.0), seq)
        for seq in range(first_seq, first_seq + count)
    ]


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START_MS)


@pytest.fixture
async def gate(clock: SimulatedClock) -> AsyncIterator[TickRateGate]:
    cache = open_cache(CacheSettings(url="memory://"), clock)
    yield TickRateGate(cache, clock, "tenant-a")
    await cache.close()


async def test_frames_in_flight_after_a_refusal_wait_for_its_resend(
    gate: TickRateGate, clock: SimulatedClock
) -> None:
    admitted, refused = await gate.admit(frame(1, 10), ticks_per_second=10)
    assert len(admitted) == 10 and refused is None
    admitted, refused = await gate.admit(frame(11, 10), ticks_per_second=10)  # over the rate
    assert admitted == [] and refused is not None
    assert refused.frame["details"]["seqs"] == list(range(11, 21))
    clock.advance_ms(2_000)  # the bucket refills, but seqs 21.. were sent before the resend
    admitted, refused = await gate.admit(frame(21, 5), ticks_per_second=10)
    assert admitted == [] and refused is not None and refused.count == 5
    admitted, refused = await gate.admit(frame(11, 10), ticks_per_second=10)  # the resend
    assert [seq for _, seq in admitted] == list(range(11, 21)) and refused is None
    clock.advance_ms(1_000)
    admitted, _ = await gate.admit(frame(21, 5), ticks_per_second=10)
    assert [seq for _, seq in admitted] == list(range(21, 26))


async def test_a_resend_that_never_comes_blocks_for_a_bounded_time(
    gate: TickRateGate, clock: SimulatedClock
) -> None:
    await gate.admit(frame(1, 10), ticks_per_second=10)
    _, refused = await gate.admit(frame(11, 10), ticks_per_second=10)
    assert refused is not None
    clock.advance_ms(RESEND_WAIT_MS + 1)
    admitted, refused = await gate.admit(frame(30, 3), ticks_per_second=10)
    assert len(admitted) == 3 and refused is None


async def test_time_left_unread_over_the_cpu_share_does_not_count_in_the_wait(
    gate: TickRateGate, clock: SimulatedClock
) -> None:
    """A throttled connection's resend is queued behind its frames sent meanwhile: the
    seconds its frames were left unread extend the wait, so they are still refused."""
    await gate.admit(frame(1, 10), ticks_per_second=10)
    _, refused = await gate.admit(frame(11, 10), ticks_per_second=10)
    assert refused is not None
    gate.postpone(3.0)  # the reader waited 3 s in CpuShares.admit
    clock.advance_ms(RESEND_WAIT_MS + 1)
    admitted, refused = await gate.admit(frame(21, 5), ticks_per_second=10)
    assert admitted == [] and refused is not None  # still waiting for seq 11
    admitted, refused = await gate.admit(frame(11, 10), ticks_per_second=10)
    assert [seq for _, seq in admitted] == list(range(11, 21)) and refused is None
    clock.advance_ms(3_000)
    gate.postpone(1.0)  # nothing refused: nothing to extend
    admitted, refused = await gate.admit(frame(21, 5), ticks_per_second=10)
    assert len(admitted) == 5 and refused is None
