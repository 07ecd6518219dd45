"""Deficit round robin between tenants on the tick hot path."""

from __future__ import annotations

import pytest

from chainflow.bridge.api import BarPublished, TickRow, TicksAccepted
from chainflow.trading.tick.queue import FairTickQueue


def ticks(tenant: str, count: int, symbol: str = "EURUSD", first: int = 0) -> TicksAccepted:
    rows = tuple(
        TickRow(1_000 + first + i, 1.1, 1.1001, 1.0, False, first + i) for i in range(count)
    )
    return TicksAccepted(tenant, symbol, 0, rows)


def bar(tenant: str, ts: int) -> BarPublished:
    return BarPublished(tenant, "EURUSD", "M1", ts, 1.1, 1.2, 1.0, 1.1, 1.0, 1, 0.0001)


def test_a_flooding_tenant_gets_one_quantum_per_round() -> None:
    queue = FairTickQueue(quantum=10)
    for i in range(50):
        queue.put(ticks("flood", 10, first=10 * i))
    queue.put(ticks("live", 1))
    first = queue.take_round()
    assert [e.tenant_id for e in first] == ["flood", "live"]
    assert len(queue) == 49
    assert [e.tenant_id for e in queue.take_round()] == ["flood"]


def test_per_tenant_order_is_kept_across_rounds_and_kinds() -> None:
    queue = FairTickQueue(quantum=3)
    events = [ticks("a", 2, first=0), bar("a", 60_000), ticks("a", 2, first=2), ticks("a", 1)]
    for event in events:
        queue.put(event)
    taken = []
    while queue:
        taken += queue.take_round()
    assert taken == events


def test_an_event_larger_than_the_quantum_is_served_once_the_deficit_grows() -> None:
    queue = FairTickQueue(quantum=4)
    queue.put(ticks("big", 10))
    queue.put(ticks("small", 1))
    rounds = []
    while queue:
        rounds.append([(e.tenant_id, len(e.ticks)) for e in queue.take_round()])
    assert rounds == [[("small", 1)], [], [("big", 10)]]
    assert queue.pending_of("big") == 0


def test_a_tenant_that_empties_leaves_with_no_credit() -> None:
    queue = FairTickQueue(quantum=100)
    queue.put(ticks("a", 1))
    queue.take_round()
    for i in range(3):
        queue.put(ticks("a", 60, first=i * 60))
    assert [len(e.ticks) for e in queue.take_round()] == [60]


def test_quantum_must_be_positive() -> None:
    with pytest.raises(ValueError, match="quantum"):
        FairTickQueue(quantum=0)
