"""The trading service's risk loop on the whole kernel: paper fills, breaker, refusals.

A tenant sets tight limits over the API; a strong prediction becomes a buy sized at the
tenant's risk per trade; its order fills on the next tick at the ask; ticks against the
position trip the daily-loss circuit breaker (``trading.risk.<tenant>`` event, the paper
account reports it); the next entry is refused with the reason and issued as ``hold``;
the attribution adds up to the account's P&L.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chainflow.bridge.events import TicksAccepted, ticks_topic
from chainflow.hub.api import BusMessage
from chainflow.ml.api import PredictionMade, predictions_topic
from chainflow.runtime.kernel import Kernel
from chainflow.trading.events import risk_events_topic
from tests.fixtures.api_client import logged_in_client

SYMBOL = "EURUSD"
T0 = 1_700_036_100_000  # an M5 bar open: Wednesday 2023-11-15 08:15 UTC (liquid hours)
BAR_MS = 300_000
UP = {"down": 0.05, "flat": 0.15, "up": 0.8}
DOWN = {"down": 0.8, "flat": 0.15, "up": 0.05}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Kernel, str]]:
    async with logged_in_client(tmp_path / "home") as connected:
        yield connected


def prediction(tenant: str, ts: int, probabilities: dict[str, float]) -> PredictionMade:
    return PredictionMade(
        tenant_id=tenant,
        symbol=SYMBOL,
        timeframe="M5",
        ts=ts,
        model="fx-default@1",
        feature_set="fx-core@1",
        probabilities=probabilities,
        expected_volatility=0.001,
        momentum=0.0,
        horizon=6,
        anomaly=False,
        anomaly_score=None,
        patterns=[],
        latency_ms=1.0,
        close=1.10000,
        atr=0.002,
    )


async def tick(kernel: Kernel, tenant: str, ts: int, bid: float) -> None:
    event = TicksAccepted(
        tenant,
        SYMBOL,
        ts,
        ((ts, bid, round(bid + 0.0001, 5), 1.0, False, None),),
        connection="c",
        received_us=kernel.clock.now_us(),
    )
    await kernel.infra.bus.publish(ticks_topic(tenant, SYMBOL), event.to_json())


async def polled(http: httpx.AsyncClient, path: str, **params: str) -> Any:
    """GET ``path``'s JSON; None while the free tier's quota (60 requests a minute, a
    burst of 60) refuses the poll with 429, as it does when a loaded machine makes the
    wait longer than the burst."""
    response = await http.get(path, params=params)
    if response.status_code == 429:
        return None
    assert response.status_code == 200, response.text
    return response.json()


async def eventually(check: Any, what: str, timeout_s: float = 30.0) -> Any:
    """Poll ``check`` every 50 ms until it returns something (see ``polled``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {what} within {timeout_s} s")


async def test_breaker_trips_on_paper_losses_and_refuses_the_next_entry(
    client: tuple[httpx.AsyncClient, Kernel, str],
) -> None:
    http, kernel, tenant = client
    limits = {
        "risk_tolerance": "moderate",
        "max_daily_loss_pct": 0.2,
        "max_risk_per_trade_pct": 0.1,
    }
    assert (await http.put("/api/v1/tenant/trading-settings", json=limits)).status_code == 200
    risk_events: list[dict[str, Any]] = []

    async def on_risk(message: BusMessage) -> None:
        risk_events.append(json.loads(message.data))

    await kernel.infra.bus.subscribe(risk_events_topic(tenant), on_risk)
    await tick(kernel, tenant, T0 + BAR_MS - 1_000, 1.10000)  # a live quote for the plan

    async def signals() -> list[dict[str, Any]] | None:
        found = await polled(http, "/api/v1/signals", symbol=SYMBOL)
        return None if found is None else found["items"]

    bar = T0
    for _ in range(6):  # the stabilizer confirms; the first change is the buy
        await kernel.infra.bus.publish(
            predictions_topic(tenant, SYMBOL, "M5"), prediction(tenant, bar, UP).to_json()
        )
        bar += BAR_MS
    (buy,) = await eventually(signals, "a buy signal")
    assert buy["action"] == "buy"
    # 0.1% of 10 000 at a stop 1.5 ATR (0.003) away: 10 / 300 per lot = 0.03 lots.
    assert buy["size"] == 0.03 and buy["stop_loss"] == pytest.approx(1.097)
    assert any("risk 0.10% of 10000" in r for r in buy["reasons"])
    assert "spread 10.0 points, no median yet: market buy" in buy["reasons"]  # the plan

    await tick(kernel, tenant, bar + 1_000, 1.10000)  # fills at the ask 1.10010

    async def filled() -> dict[str, Any] | None:
        paper = await polled(http, "/api/v1/trading/paper")
        return paper if paper is not None and paper["positions"] else None

    paper = await eventually(filled, "the buy filled")
    assert paper["positions"][0]["entry_price"] == 1.10010
    # A gap through the stop: it fills at the bid 1.09200, 0.03 lots × 100 000 ×
    # (1.10010 - 1.09200) = 24.30 lost, 0.24% ≥ the 0.2% daily limit.
    await tick(kernel, tenant, bar + 2_000, 1.09200)

    async def halted() -> dict[str, Any] | None:
        paper = await polled(http, "/api/v1/trading/paper")
        return paper if paper is not None and paper["account"]["halted"] else None

    paper = await eventually(halted, "the breaker tripped")
    assert paper["account"]["halted"].startswith("daily loss")
    assert not paper["positions"] and paper["trades"][0]["exit_reason"] == "stop_loss"

    async def announced() -> list[dict[str, Any]]:  # on the bus, after the trip itself
        return risk_events

    await eventually(announced, "the circuit-breaker event")
    await asyncio.sleep(0.05)  # and no other
    assert [e["type"] for e in risk_events] == ["circuit_breaker"]
    assert risk_events[0]["reason"] == paper["account"]["halted"]

    for _ in range(6):
        await kernel.infra.bus.publish(
            predictions_topic(tenant, SYMBOL, "M5"), prediction(tenant, bar, DOWN).to_json()
        )
        bar += BAR_MS

    async def refused() -> list[dict[str, Any]] | None:
        items = await signals()
        return items if items is not None and len(items) >= 2 else None

    newest = (await eventually(refused, "a second signal"))[0]
    assert newest["action"] == "hold" and newest["size"] == 0
    assert any(
        r.startswith("risk refused the sell: circuit breaker tripped: daily loss")
        for r in newest["reasons"]
    )

    await tick(kernel, tenant, bar + 1_000, 1.09300)
    paper = await eventually(lambda: polled(http, "/api/v1/trading/paper"), "the book")
    assert not paper["positions"] and not paper["pending_orders"]  # nothing was entered
    attribution = await eventually(
        lambda: polled(http, "/api/v1/trading/attribution"), "the attribution"
    )
    account = paper["account"]
    assert attribution["account_pnl"] == pytest.approx(
        account["equity"] - account["starting_balance"], abs=0.01
    )
    assert attribution["total"]["pnl"] + attribution["swaps"] == pytest.approx(
        attribution["account_pnl"], abs=0.01
    )
    assert attribution["total"]["realized"] == pytest.approx(-24.30)
    assert attribution["by_model"][0]["key"] == "fx-default@1"
