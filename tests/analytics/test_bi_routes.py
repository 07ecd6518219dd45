"""``/api/v1/admin/analytics/*`` on the embedded kernel: a superadmin reads the figures of a
seeded history from the real billing and usage tables; nobody else reads anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainflow.bridge.usage import ALL_SYMBOLS, USAGE_TABLE
from chainflow.trading.api import connection_topic
from tests.analytics.bi_platform import ROLES, bi_platform
from tests.analytics.bi_seed import ENTERPRISE_MONTHLY, PRO_MONTHLY, PRO_YEARLY_PER_MONTH, day_ms

ROUTES = (
    ("GET", "/api/v1/admin/analytics/overview"),
    ("GET", "/api/v1/admin/analytics/mrr"),
    ("GET", "/api/v1/admin/analytics/cohorts"),
    ("GET", "/api/v1/admin/analytics/conversion"),
    ("GET", "/api/v1/admin/analytics/usage"),
    ("POST", "/api/v1/admin/analytics/refresh"),
)
BOTH = ENTERPRISE_MONTHLY + PRO_YEARLY_PER_MONTH


class TestOverview:
    async def test_superadmin_reads_the_seeded_figures(self, tmp_path: Path) -> None:
        async with bi_platform(tmp_path) as platform:
            root = platform.headers["root"]
            await platform.kernel.infra.bus.publish(connection_topic("tenant-b", "c1"), b"{}")
            refreshed = await platform.http.post("/api/v1/admin/analytics/refresh", headers=root)
            assert refreshed.status_code == 200, refreshed.text
            answer = await platform.http.get("/api/v1/admin/analytics/overview", headers=root)
            assert answer.status_code == 200, answer.text
            body = answer.json()

            assert body["tenants"] == 4 + 5  # seeded, and the five who signed up here
            assert body["mrr"]["mrr_idr"] == BOTH and body["mrr"]["arr_idr"] == 12 * BOTH
            assert body["mrr"]["subscriptions_by_status"] == {"active": 2, "expired": 1}
            months = {m["month"]: m for m in body["months"]}
            assert len(months) == 12 and list(months)[-1] == "2025-06"
            assert months["2025-02"]["mrr_idr"] == PRO_MONTHLY + PRO_YEARLY_PER_MONTH
            assert months["2025-03"]["activity"] == {
                "active": 1,
                "new": 0,
                "churned": 2,
                "reactivated": 0,
            }
            assert months["2025-04"]["activity"]["reactivated"] == 1
            assert months["2025-03"]["paying"]["churned"] == 1
            assert months["2025-06"]["signups"] == 5
            cohorts = {c["month"]: c for c in body["cohorts"]}
            assert cohorts["2025-01"]["active"] == [2, 2, 1, 2, 1, 1]
            assert cohorts["2025-01"]["retention"][2] == 0.5
            conversion = body["conversion"]
            assert (conversion["free_to_pro"], conversion["pro_to_enterprise"]) == (3, 1)
            assert conversion["signups"] == 9
            usage = {row["tier"]: row for row in body["usage"]["items"]}
            assert body["usage"]["month"] == "2025-06"
            assert (usage["pro"]["ticks"], usage["pro"]["terminals"]) == (1000, 1)
            assert usage["pro"]["api_calls"] == 0  # the usage rows here meter no API calls
            assert body["active_terminals"] == 1

    async def test_new_usage_shows_after_a_refresh(self, tmp_path: Path) -> None:
        async with bi_platform(tmp_path) as platform:
            root = platform.headers["root"]
            await platform.http.post("/api/v1/admin/analytics/refresh", headers=root)
            row = {
                "tenant_id": "tenant-d",
                "symbol": ALL_SYMBOLS,
                "ts": day_ms(6, 2),
                "ticks": 5,
                "messages": 1,
            }
            await platform.kernel.infra.timeseries.append(USAGE_TABLE.name, [row])
            await platform.http.post("/api/v1/admin/analytics/refresh", headers=root)
            mrr = (await platform.http.get("/api/v1/admin/analytics/mrr", headers=root)).json()
            assert mrr["months"][-1]["mrr_idr"] == BOTH
            june = (await platform.http.get("/api/v1/admin/analytics/usage", headers=root)).json()
            free = next(r for r in june["items"] if r["tier"] == "free")
            assert (free["active_tenants"], free["ticks"]) == (1, 5)
            april = await platform.http.get(
                "/api/v1/admin/analytics/usage?month=2025-04", headers=root
            )
            assert (
                next(r for r in april.json()["items"] if r["tier"] == "enterprise")["ticks"] == 10
            )
            bad = await platform.http.get(
                "/api/v1/admin/analytics/usage?month=1999-01", headers=root
            )
            assert bad.status_code == 422
            assert bad.json()["error"]["code"] == "analytics_month_invalid"
            cohorts = await platform.http.get("/api/v1/admin/analytics/cohorts", headers=root)
            assert len(cohorts.json()["items"]) == 12
            conversion = await platform.http.get("/api/v1/admin/analytics/conversion", headers=root)
            assert conversion.json()["free_to_paid_rate"] == pytest.approx(3 / 9)


class TestSuperadminOnly:
    @pytest.mark.parametrize(("method", "path"), ROUTES)
    async def test_every_route_refuses_tenant_roles_and_anonymous_callers(
        self, tmp_path: Path, method: str, path: str
    ) -> None:
        async with bi_platform(tmp_path) as platform:
            anonymous = await platform.http.request(method, path)
            assert anonymous.status_code == 401, anonymous.text
            for role in ROLES:
                refused = await platform.http.request(method, path, headers=platform.headers[role])
                assert refused.status_code == 403, (role, refused.text)
                assert refused.json()["error"]["code"] == "permission_denied"
            allowed = await platform.http.request(method, path, headers=platform.headers["root"])
            assert allowed.status_code == 200, allowed.text
