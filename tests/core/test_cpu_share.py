"""Per-tenant CPU shares: debt is paid back by waiting, at the tenant's own rate."""

from __future__ import annotations

import asyncio

import pytest

from chainflow.core.cpu_share import MAX_WAIT_S, CpuShares


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_within_its_share_a_tenant_never_waits() -> None:
    clock = FakeTime()
    shares = CpuShares(burst_s=1.0, clock=clock)
    shares.declare("light", 0.2)
    for _ in range(100):  # 10 ms of work every 100 ms: 0.1 of a core
        shares.charge("light", 0.01)
        clock.now += 0.1
        assert shares.delay_of("light") == 0.0


def test_over_its_share_the_wait_repays_the_debt_at_its_rate() -> None:
    clock = FakeTime()
    shares = CpuShares(burst_s=1.0, clock=clock)
    shares.declare("flood", 0.5)
    shares.charge("flood", 0.5)  # the burst: 1 s x 0.5
    assert shares.delay_of("flood") == 0.0
    shares.charge("flood", 0.25)
    assert shares.delay_of("flood") == pytest.approx(0.5)  # 0.25 CPU-s at 0.5 per s
    clock.now += 0.5
    assert shares.delay_of("flood") == pytest.approx(0.0)
    assert shares.usage("flood")[0] == pytest.approx(0.75)


def test_one_tenant_debt_never_delays_another() -> None:
    shares = CpuShares(burst_s=1.0, clock=FakeTime())
    shares.declare("flood", 0.1)
    shares.declare("live", 0.1)
    shares.charge("flood", 5.0)
    assert shares.delay_of("flood") > 0 and shares.delay_of("live") == 0.0


def test_unmetered_shares_and_unknown_tenants() -> None:
    shares = CpuShares(clock=FakeTime())
    assert shares.delay_of("never-seen") == 0.0
    shares.declare("ops", 0.0)
    shares.charge("ops", 100.0)
    assert shares.delay_of("ops") == 0.0


async def test_admit_sleeps_at_most_the_cap_and_records_it() -> None:
    shares = CpuShares(burst_s=0.01)
    shares.declare("flood", 0.01)
    shares.charge("flood", 1.0)  # 100 s of debt at 0.01
    loop = asyncio.get_running_loop()
    began = loop.time()
    waited = await shares.admit("flood")
    assert waited == pytest.approx(MAX_WAIT_S)
    assert loop.time() - began >= MAX_WAIT_S * 0.9
    assert shares.usage("flood")[1] == pytest.approx(MAX_WAIT_S)
    assert await shares.admit("live") == 0.0


def test_burst_must_be_positive() -> None:
    with pytest.raises(ValueError, match="burst_s"):
        CpuShares(burst_s=0)
