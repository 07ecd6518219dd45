"""``/api/v1/risk/*`` on the embedded kernel, called as a logged-in user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from chainflow.risk.api import Instrument, Position
from chainflow.risk.portfolio import PortfolioSnapshot
from chainflow.risk.routes import build_risk_router
from chainflow.risk.service import RiskService
from chainflow.risk.settings_source import DefaultRiskSettings
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from tests.fixtures.api_client import PASSWORD, logged_in_client
from tests.fixtures.settings import embedded_settings

ORDER = {"symbol": "EURUSD", "side": "buy", "entry": 1.1, "stop_loss": 1.095}


class CraftedSource:
    """A ``PortfolioSource`` holding one EURUSD lot for every tenant it is asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def portfolio(self, tenant_id: str) -> PortfolioSnapshot:
        self.asked.append(tenant_id)
        held = (Position("EURUSD", 1.0, 1.1, Instrument("EURUSD")),)
        return PortfolioSnapshot(
            tenant_id,
            "USD",
            10_000.0,
            10_000.0,
            10_000.0,
            10_000.0,
            10_000.0,
            held,
            {"EURUSD": 1.1},
        )


async def login(http: httpx.AsyncClient, email: str) -> tuple[dict[str, str], str]:
    credentials = {"email": email, "password": PASSWORD}
    registered = await http.post("/api/v1/auth/register", json=credentials)
    assert registered.status_code == 201, registered.text
    token = (await http.post("/api/v1/auth/login", json=credentials)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}, registered.json()["tenant_id"]


@asynccontextmanager
async def crafted_app(home: Path, source: CraftedSource) -> AsyncIterator[httpx.AsyncClient]:
    """The embedded kernel's app plus the risk router on ``source`` under ``/api/v1/crafted``."""
    kernel = Kernel(embedded_settings(home))
    app = create_app(kernel)
    service = RiskService(
        source=source,
        store=kernel.infra.timeseries,
        settings_source=DefaultRiskSettings(),
        clock=kernel.clock,
    )
    app.include_router(build_risk_router(service=service), prefix="/api/v1/crafted")
    await kernel.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http
    finally:
        await kernel.stop()


class TestGetPortfolio:
    async def test_fresh_tenant_gets_a_flat_report(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, kernel, tenant_id):
            assert kernel.risk is not None and "risk" in kernel.running_names
            response = await http.get("/api/v1/risk/portfolio")
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["tenant_id"] == tenant_id and body["equity"] > 0
            assert body["exposure"]["symbols"] == [] and body["exposure"]["gross_notional"] == 0
            assert body["var"]["note"] == "no open positions; nothing at risk"
            methods = ("historical", "parametric", "monte_carlo")
            assert {(f["method"], f["confidence"], f["var"]) for f in body["var"]["figures"]} == {
                (m, c, 0.0) for m in methods for c in (0.95, 0.99)
            }
            assert len(body["stress"]) == 6
            assert body["limits"]["open_positions"] == {
                "value": 0.0,
                "limit": 3.0,
                "used_pct": 0.0,
                "unit": "positions",
                "symbol": None,
            }
            assert body["breaker"] == {"tripped": False, "reason": None, "source": None}

    async def test_limits_follow_the_tenants_trading_settings(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, _kernel, _tenant_id):
            settings = {"risk_tolerance": "aggressive", "leverage": 100}
            put = await http.put("/api/v1/tenant/trading-settings", json=settings)
            assert put.status_code == 200, put.text
            limits = (await http.get("/api/v1/risk/portfolio")).json()["limits"]
            assert limits["leverage"] == 100 and limits["risk_per_trade_pct"] == 2.0
            assert limits["daily_loss"]["limit"] == 10.0

    async def test_needs_a_credential(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, _kernel, _tenant_id):
            response = await http.get("/api/v1/risk/portfolio", headers={"Authorization": ""})
            assert response.status_code == 401
            assert response.json()["error"]["code"]

    async def test_source_only_ever_sees_the_callers_tenant(self, tmp_path: Path) -> None:
        source = CraftedSource()
        async with crafted_app(tmp_path, source) as http:
            first_headers, first = await login(http, "first@example.com")
            second_headers, second = await login(http, "second@example.com")
            answer = await http.get("/api/v1/crafted/risk/portfolio", headers=second_headers)
            assert answer.status_code == 200, answer.text
            assert answer.json()["tenant_id"] == second
            assert source.asked == [second]
            await http.post("/api/v1/crafted/risk/check", headers=first_headers, json=ORDER)
            assert source.asked == [second, first]


class TestCheckOrder:
    async def test_sizes_an_order_from_its_stop(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, _kernel, _tenant_id):
            portfolio = (await http.get("/api/v1/risk/portfolio")).json()
            response = await http.post("/api/v1/risk/check", json=ORDER)
            assert response.status_code == 200, response.text
            body = response.json()
            budget = portfolio["limits"]["risk_per_trade_budget"]
            expected = int(round(budget / 500 / 0.01, 6)) * 0.01  # 50 pips of a standard lot
            assert body["allowed"] is True
            assert abs(body["lots"] - expected) < 1e-9 and body["requested_lots"] == body["lots"]
            assert body["entry_source"] == "request" and body["var_before"] == 0.0
            assert body["margin"] > 0 and body["reasons"][0].startswith("sized ")

    async def test_malformed_orders_are_422_with_the_error_shape(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, _kernel, _tenant_id):
            hold = await http.post("/api/v1/risk/check", json={**ORDER, "side": "hold"})
            assert hold.status_code == 422
            assert hold.json() == {
                "error": {
                    "code": "invalid_order",
                    "message": "expected side 'buy' or 'sell'; received 'hold'",
                    "details": {"field": "side"},
                }
            }
            wrong_stop = await http.post("/api/v1/risk/check", json={**ORDER, "stop_loss": 1.2})
            assert wrong_stop.status_code == 422
            assert wrong_stop.json()["error"]["message"] == (
                "expected stop_loss below the entry 1.1 for a buy; received 1.2"
            )
            negative = await http.post("/api/v1/risk/check", json={**ORDER, "lots": -1})
            assert negative.json()["error"]["message"] == "expected lots > 0; received -1"
            not_a_number = await http.post("/api/v1/risk/check", json={**ORDER, "lots": "many"})
            assert not_a_number.status_code == 422
            assert not_a_number.json()["error"]["code"] == "invalid_input"

    async def test_openapi_documents_both_routes(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, _kernel, _tenant_id):
            paths = (await http.get("/openapi.json")).json()["paths"]
            assert "VaR" in paths["/api/v1/risk/portfolio"]["get"]["description"]
            assert "What-if" in paths["/api/v1/risk/check"]["post"]["description"]
