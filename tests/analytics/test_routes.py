"""``/api/v1/analytics/*`` on the embedded kernel: trades made by the real paper desk, read
over HTTP, never across tenants."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson

from chainflow.runtime.kernel import Kernel
from chainflow.trading.api import connection_topic
from chainflow.trading.paper.desk import PaperSignal
from tests.analytics.builders import DAY_MS, JAN_1_2024
from tests.fixtures.api_client import PASSWORD, logged_in_client

NOON = JAN_1_2024 + 12 * 3_600_000  # a Monday, in the London/New York overlap


async def round_trip(kernel: Kernel, tenant_id: str, start: int, exit_bid: float) -> None:
    """Buy 1 lot of EURUSD (filled at ask 1.1002), then flatten (filled at ``exit_bid``)."""
    assert kernel.trading is not None
    desk = kernel.trading.desk
    await desk.ensure(tenant_id)
    reasons = ("edge 0.12 ≥ 0.05",)
    buy = PaperSignal("EURUSD", start, "buy", 1.0, None, None, "gbm@1", reasons, regime="trend_up")
    desk.on_signal(tenant_id, buy)
    await desk.on_tick(tenant_id, "EURUSD", start + 1, 1.1000, 1.1002)
    flat = PaperSignal("EURUSD", start + 2, "hold", 0.0, None, None, "gbm@1", ())
    desk.on_signal(tenant_id, flat)
    await desk.on_tick(tenant_id, "EURUSD", start + 3, exit_bid, exit_bid + 0.0002)


async def second_user(http: httpx.AsyncClient) -> dict[str, str]:
    credentials = {"email": "other@example.com", "password": PASSWORD}
    assert (await http.post("/api/v1/auth/register", json=credentials)).status_code == 201
    token = (await http.post("/api/v1/auth/login", json=credentials)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


class TestTradingAnalytics:
    async def test_paper_trades_show_in_every_view(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, kernel, tenant_id):
            await round_trip(kernel, tenant_id, NOON, exit_bid=1.1012)  # +100.00
            await round_trip(kernel, tenant_id, NOON + DAY_MS, exit_bid=1.0997)  # -50.00

            equity = (await http.get("/api/v1/analytics/equity")).json()
            assert equity["starting_balance"] == 10_000.0
            assert [(p["ts"], p["pnl"], p["equity"]) for p in equity["items"]] == [
                (JAN_1_2024, 100.0, 10_100.0),
                (JAN_1_2024 + DAY_MS, -50.0, 10_050.0),
            ]
            assert equity["final_equity"] == 10_050.0
            assert round(equity["max_drawdown_pct"], 6) == round(50 / 10_100 * 100, 6)

            weeks = (await http.get("/api/v1/analytics/returns?period=week")).json()
            assert weeks["items"] == [
                {"ts": JAN_1_2024, "pnl": 50.0, "return_pct": 0.5, "trades": 2, "wins": 1}
            ]

            by_session = (await http.get("/api/v1/analytics/breakdown?by=session")).json()
            assert by_session["items"] == [
                {
                    "key": "london_newyork",
                    "trades": 2,
                    "wins": 1,
                    "hit_rate": 0.5,
                    "pnl": 50.0,
                    "gross_profit": 100.0,
                    "gross_loss": 50.0,
                    "profit_factor": 2.0,
                }
            ]
            by_reason = (await http.get("/api/v1/analytics/breakdown?by=reason")).json()
            assert [(r["key"], r["trades"]) for r in by_reason["items"]] == [("edge # ≥ #", 2)]
            by_regime = (await http.get("/api/v1/analytics/breakdown?by=regime")).json()
            assert [r["key"] for r in by_regime["items"]] == ["trend_up"]

            ratios = (await http.get("/api/v1/analytics/ratios?window=all,7")).json()["items"]
            assert [r["window_days"] for r in ratios] == [None, 7]
            assert ratios[0]["trades"] == 2 and ratios[0]["small_sample"] is True
            assert ratios[1]["observations"] == 7 and ratios[1]["trades"] == 0

    async def test_rebuild_answers_the_trade_count(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, kernel, tenant_id):
            await round_trip(kernel, tenant_id, NOON, exit_bid=1.1012)
            assert (await http.get("/api/v1/analytics/equity")).status_code == 200
            rebuilt = await http.post("/api/v1/analytics/rollups/rebuild")
            assert rebuilt.status_code == 200 and rebuilt.json() == {"trades": 1}

    async def test_bad_queries_are_422_with_the_error_shape(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, _kernel, _tenant):
            bad_window = await http.get("/api/v1/analytics/ratios?window=soon")
            assert bad_window.status_code == 422
            assert bad_window.json()["error"]["code"] == "analytics_window_invalid"
            bad_by = await http.get("/api/v1/analytics/breakdown?by=weather")
            assert bad_by.status_code == 422 and "error" in bad_by.json()

    async def test_anonymous_callers_are_refused(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, _kernel, _tenant):
            del http.headers["Authorization"]
            assert (await http.get("/api/v1/analytics/equity")).status_code == 401


class TestTenantIsolation:
    async def test_another_tenant_sees_none_of_the_analytics(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, kernel, tenant_id):
            await round_trip(kernel, tenant_id, NOON, exit_bid=1.1012)
            frame = orjson.dumps({"type": "signal", "action": "hold", "latency_ms": 3.5})
            await kernel.infra.bus.publish(connection_topic(tenant_id, "c1"), frame)
            await asyncio.sleep(0.05)
            mine = (await http.get("/api/v1/analytics/latency")).json()
            assert mine["count"] == 1 and mine["p50_ms"] == 3.5
            assert len((await http.get("/api/v1/analytics/equity")).json()["items"]) == 1

            other = await second_user(http)
            for path in ("equity", "returns?period=day", "breakdown?by=symbol"):
                answer = (await http.get(f"/api/v1/analytics/{path}", headers=other)).json()
                assert answer["items"] == [], path
            latency = (await http.get("/api/v1/analytics/latency", headers=other)).json()
            assert latency["count"] == 0
            rebuilt = await http.post("/api/v1/analytics/rollups/rebuild", headers=other)
            assert rebuilt.json() == {"trades": 0}
