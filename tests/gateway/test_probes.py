"""The probe routes: ``/ready`` hides paths, URLs and error texts from anonymous callers."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest
from prometheus_client import CollectorRegistry

from chainflow.core.clock import SimulatedClock
from chainflow.core.health import HealthReport
from chainflow.gateway.app import create_gateway
from chainflow.storage.cache.memory import InProcessCache
from tests.fixtures.auth import AuthStack, build_auth_stack, make_principal

DUCKDB_PATH = "/srv/chainflow/home/timeseries.duckdb"
DATABASE_URL = "postgresql+asyncpg://chainflow:***@db.internal:5432/chainflow"
REPORTS = [
    HealthReport(
        "database", True, "postgresql", 1.25, extra={"url": DATABASE_URL, "rls_enforced": True}
    ),
    HealthReport(
        "timeseries", True, "duckdb", 0.5, extra={"location": DUCKDB_PATH, "group_commits": 7}
    ),
    HealthReport("bus", False, "nats", detail=f"OSError: cannot open {DUCKDB_PATH}"),
]


@pytest.fixture
def stack() -> AuthStack:
    clock = SimulatedClock(1_700_000_000_000)
    return build_auth_stack(InProcessCache(clock), clock)


@pytest.fixture
async def client(stack: AuthStack):
    async def readiness() -> Sequence[HealthReport]:
        return REPORTS

    app = create_gateway(
        title="t",
        version="0",
        routers=[],
        readiness=readiness,
        metrics_registry=CollectorRegistry(),
        authenticator=stack.authenticator,
        rate_limiter=stack.rate_limiter,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


class TestReady:
    async def test_anonymous_caller_sees_no_paths_urls_or_error_texts(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/ready")

        assert response.status_code == 503
        assert DUCKDB_PATH not in response.text and "db.internal" not in response.text
        assert response.json()["checks"] == {
            "database": {
                "name": "database",
                "ok": True,
                "backend": "postgresql",
                "latency_ms": 1.25,
                "rls_enforced": True,
            },
            "timeseries": {
                "name": "timeseries",
                "ok": True,
                "backend": "duckdb",
                "latency_ms": 0.5,
                "group_commits": 7,
            },
            "bus": {"name": "bus", "ok": False, "backend": "nats"},
        }

    async def test_a_bad_or_ordinary_credential_gets_the_anonymous_view(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        trader = stack.login(make_principal(session_id="s-trader"))
        for header in ("Bearer not-a-token", f"Bearer {trader}"):
            response = await client.get("/ready", headers={"Authorization": header})
            assert response.status_code == 503
            assert DUCKDB_PATH not in response.text

    async def test_superadmin_sees_every_detail(
        self, client: httpx.AsyncClient, stack: AuthStack
    ) -> None:
        admin = stack.login(make_principal(session_id="s-admin", is_superadmin=True))

        response = await client.get("/ready", headers={"Authorization": f"Bearer {admin}"})

        checks = response.json()["checks"]
        assert checks["timeseries"]["location"] == DUCKDB_PATH
        assert checks["database"]["url"] == DATABASE_URL
        assert checks["bus"]["detail"] == f"OSError: cannot open {DUCKDB_PATH}"


class TestMetrics:
    async def test_metrics_are_documented_as_plain_text(self, client: httpx.AsyncClient) -> None:
        operation = (await client.get("/openapi.json")).json()["paths"]["/metrics"]["get"]
        assert list(operation["responses"]["200"]["content"]) == ["text/plain"]
        assert (await client.get("/metrics")).headers["content-type"].startswith("text/plain")
