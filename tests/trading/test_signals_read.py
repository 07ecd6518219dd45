"""``GET /api/v1/signals`` on the whole embedded kernel: what the fast read path returns.

The listing reads columns, not ORM rows, and serializes its body once (``signal_frames``).
These tests pin what that must not change: each item is the stored signal's ``to_wire()``
frame (same keys in the same order, same values), newest bar first and issue order within
a bar, the symbol filter and the limit, and a tenant never sees another tenant's signals.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from chainflow.core.ids import TenantId
from chainflow.core.tenancy import TenantContext
from chainflow.runtime.kernel import Kernel
from chainflow.trading.events import SignalIssued
from chainflow.trading.repository import SignalRepository
from chainflow.trading.routes import signal_frames
from tests.fixtures.api_client import logged_in_client
from tests.trading.test_service import other_tenant_token

TS = 1_750_000_000_000
MINUTE_MS = 60_000


def signal(symbol: str, bar: int, action: str = "buy", **fields: Any) -> SignalIssued:
    values: dict[str, Any] = {
        "symbol": symbol,
        "ts": TS + bar * MINUTE_MS,
        "action": action,
        "confidence": 0.625,
        "size": 0.3,
        "stop_loss": 1.0712,
        "take_profit": 1.0934,
        "model": "fx-default@1",
        "reasons": ["trend", "momentum"],
    }
    values.update(fields)
    return SignalIssued(**values)


async def store(kernel: Kernel, tenant_id: str, *signals: SignalIssued) -> None:
    """Record ``signals`` for the tenant in this order (their issue order)."""
    tenant = TenantContext(tenant_id=TenantId(tenant_id))
    async with kernel.infra.database.unit_of_work(tenant) as uow:
        repository = SignalRepository(uow.session, tenant)
        for issued in signals:
            await repository.record(issued, "M1")


async def listed(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    answer = await http.get("/api/v1/signals", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Kernel, str]]:
    async with logged_in_client(tmp_path / "home") as connected:
        yield connected


class TestSignalFrames:
    def test_each_frame_is_the_wire_frame_with_its_keys_in_order(self) -> None:
        signals = [
            signal("EURUSD", 1),
            signal("GBPUSD", 2, "hold", size=0.0, stop_loss=None, take_profit=None, reasons=[]),
            signal("USDJPY", 3, "sell", seq=42, latency_ms=1.25),
        ]

        body = orjson.loads(signal_frames(signals))

        assert body == {"items": [s.to_wire() for s in signals]}
        assert [list(item) for item in body["items"]] == [list(s.to_wire()) for s in signals]

    def test_no_signals_is_an_empty_list(self) -> None:
        assert orjson.loads(signal_frames([])) == {"items": []}


class TestListSignals:
    async def test_items_are_the_stored_signals_newest_bar_first_then_issue_order(
        self, client: tuple[httpx.AsyncClient, Kernel, str]
    ) -> None:
        http, kernel, tenant_id = client
        first = signal("EURUSD", 1)
        third = signal("EURUSD", 3, "sell")
        second = signal("GBPUSD", 2, "hold", size=0.0, stop_loss=None, take_profit=None)
        third_again = signal("GBPUSD", 3, reasons=[])  # same bar, issued after ``third``
        await store(kernel, tenant_id, first, third, second, third_again)

        items = await listed(http)

        assert items == [s.to_wire() for s in (third_again, third, second, first)]

    async def test_symbol_and_limit_select_the_newest_of_that_symbol(
        self, client: tuple[httpx.AsyncClient, Kernel, str]
    ) -> None:
        http, kernel, tenant_id = client
        euro = [signal("EURUSD", bar) for bar in range(5)]
        await store(kernel, tenant_id, *euro, signal("GBPUSD", 9))

        newest_two = await listed(http, symbol=" eurusd ", limit=2)
        newest = await listed(http, limit=1)

        assert newest_two == [euro[4].to_wire(), euro[3].to_wire()]
        assert [item["symbol"] for item in newest] == ["GBPUSD"]

    async def test_a_tenant_sees_only_its_own_signals(
        self, client: tuple[httpx.AsyncClient, Kernel, str]
    ) -> None:
        http, kernel, tenant_id = client
        other_token = await other_tenant_token(http)
        other = await http.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {other_token}"}
        )
        await store(kernel, tenant_id, signal("EURUSD", 1))
        await store(kernel, other.json()["tenant_id"], signal("EURUSD", 2, "sell"))

        mine = await listed(http)
        answer = await http.get(
            "/api/v1/signals", headers={"Authorization": f"Bearer {other_token}"}
        )

        assert mine == [signal("EURUSD", 1).to_wire()]
        assert answer.json()["items"] == [signal("EURUSD", 2, "sell").to_wire()]
