from collections.abc import Sequence

import httpx
import pytest
from fastapi import APIRouter
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from chainflow.core.errors import NotFound, RateLimited
from chainflow.core.health import HealthReport
from chainflow.gateway.api import MountedRouter
from chainflow.gateway.app import create_gateway


class Echo(BaseModel):
    text: str
    count: int


def _router() -> APIRouter:
    router = APIRouter(prefix="/demo")

    @router.get("/items/{item_id}")
    async def get_item(item_id: str) -> dict[str, str]:
        if item_id == "missing":
            raise NotFound(f"item must exist; received unknown id {item_id!r}")
        return {"id": item_id}

    @router.post("/echo")
    async def echo(body: Echo) -> Echo:
        return body

    @router.get("/limited")
    async def limited() -> None:
        raise RateLimited("too many requests", retry_after_s=2.2)

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("database password is hunter22")

    return router


def _app(reports: Sequence[HealthReport]):
    async def readiness() -> Sequence[HealthReport]:
        return reports

    return create_gateway(
        title="t",
        version="0",
        routers=[MountedRouter(service="demo", router=_router())],
        readiness=readiness,
        metrics_registry=CollectorRegistry(),
        cors_origins=["https://app.example"],
    )


@pytest.fixture
async def client():
    app = _app([HealthReport("database", True, "sqlite", 0.5)])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


class TestProbes:
    async def test_health_is_ok(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health")
        assert response.status_code == 200 and response.json()["status"] == "ok"

    async def test_ready_lists_each_check(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/ready")
        assert response.status_code == 200
        assert response.json()["checks"]["database"] == {
            "name": "database",
            "ok": True,
            "backend": "sqlite",
            "latency_ms": 0.5,
        }

    async def test_ready_is_503_when_a_backend_is_down(self) -> None:
        app = _app([HealthReport("database", True), HealthReport("bus", False, detail="down")])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            response = await c.get("/ready")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert response.json()["checks"]["bus"] == {"name": "bus", "ok": False, "backend": ""}

    async def test_metrics_are_prometheus_text_per_route_template(
        self, client: httpx.AsyncClient
    ) -> None:
        await client.get("/api/v1/demo/items/a")
        await client.get("/api/v1/demo/items/b")
        await client.get("/ready")
        response = await client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert (
            'chainflow_http_requests_total{method="GET",route="/api/v1/demo/items/{item_id}",'
            'status="200"} 2.0' in text
        )
        assert "chainflow_http_request_duration_seconds_bucket" in text
        assert 'chainflow_dependency_up{backend="sqlite",name="database"} 1.0' in text


class TestErrors:
    async def test_chainflow_error_has_design_shape(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/demo/items/missing")
        assert response.status_code == 404
        assert response.json() == {
            "error": {
                "code": "not_found",
                "message": "item must exist; received unknown id 'missing'",
                "details": None,
            }
        }

    async def test_validation_error_is_invalid_input_with_fields(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post("/api/v1/demo/echo", json={"text": "x", "count": "many"})
        assert response.status_code == 422
        body = response.json()["error"]
        assert body["code"] == "invalid_input"
        assert body["details"][0]["loc"] == ["body", "count"]

    async def test_unknown_route_is_not_found_shape(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/nope")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    async def test_rate_limited_sets_retry_after(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/demo/limited")
        assert response.status_code == 429
        assert response.headers["retry-after"] == "3"
        assert response.json()["error"]["code"] == "rate_limited"

    async def test_unexpected_error_is_500_without_internals(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/api/v1/demo/boom")
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "internal_error"
        assert "hunter22" not in response.text


class TestRequestId:
    async def test_generated_when_absent(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health")
        assert len(response.headers["x-request-id"]) == 32

    async def test_kept_when_valid_and_replaced_when_not(self, client: httpx.AsyncClient) -> None:
        kept = await client.get("/health", headers={"X-Request-ID": "abc-123"})
        assert kept.headers["x-request-id"] == "abc-123"
        replaced = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
        assert replaced.headers["x-request-id"] != "bad id\twith spaces"


class TestCors:
    async def test_allowed_origin_gets_cors_headers(self, client: httpx.AsyncClient) -> None:
        response = await client.options(
            "/health",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
        )
        assert response.headers["access-control-allow-origin"] == "https://app.example"

    async def test_openapi_lists_service_routes(self, client: httpx.AsyncClient) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert "/api/v1/demo/items/{item_id}" in paths and "/ready" in paths
