"""Security headers on every response, errors included; a policy of its own for the docs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import APIRouter, Response
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from chainflow.core.errors import RateLimited
from chainflow.core.health import HealthReport
from chainflow.gateway.api import MountedRouter
from chainflow.gateway.app import create_gateway
from chainflow.gateway.body_limit import BodyLimits

API_POLICY = "default-src 'none'; frame-ancestors 'none'"


class Item(BaseModel):
    name: str


def _router() -> APIRouter:
    router = APIRouter()

    @router.post("/items")
    async def create_item(item: Item) -> Item:
        return item

    @router.get("/limited")
    async def limited() -> None:
        raise RateLimited("too many requests", retry_after_s=1)

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    @router.get("/cached")
    async def cached() -> Response:
        return Response(
            "{}", media_type="application/json", headers={"Cache-Control": "max-age=60"}
        )

    return router


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async def readiness() -> list[HealthReport]:
        return []

    app = create_gateway(
        title="t",
        version="0",
        routers=[MountedRouter(service="demo", router=_router())],
        readiness=readiness,
        metrics_registry=CollectorRegistry(),
        body_limits=BodyLimits(default_bytes=100),
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def _assert_api_headers(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"] == API_POLICY


class TestEveryResponse:
    @pytest.mark.parametrize(
        ("method", "path", "body", "status"),
        [
            ("GET", "/health", None, 200),
            ("GET", "/metrics", None, 200),
            ("GET", "/openapi.json", None, 200),
            ("POST", "/api/v1/items", b'{"name": "a"}', 200),
            ("POST", "/api/v1/items", b'{"name": 1}', 422),
            ("POST", "/api/v1/items", b'{"name": "' + b"a" * 200 + b'"}', 413),
            ("GET", "/api/v1/nowhere", None, 404),
            ("DELETE", "/health", None, 405),
            ("GET", "/api/v1/limited", None, 429),
            ("GET", "/api/v1/boom", None, 500),
        ],
    )
    async def test_answer_carries_the_security_headers(
        self, client: httpx.AsyncClient, method: str, path: str, body: bytes | None, status: int
    ) -> None:
        headers = {"Content-Type": "application/json"} if body else {}
        response = await client.request(method, path, content=body, headers=headers)
        assert response.status_code == status
        _assert_api_headers(response)
        assert response.headers["cache-control"] == "no-store"

    async def test_a_route_may_choose_its_own_caching(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/cached")
        assert response.headers["cache-control"] == "max-age=60"
        _assert_api_headers(response)


class TestDocs:
    async def test_docs_policy_allows_what_swagger_ui_loads(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/docs")
        assert response.status_code == 200
        policy = dict(
            directive.strip().split(" ", 1)
            for directive in response.headers["content-security-policy"].split(";")
        )
        assert policy["frame-ancestors"] == "'none'"
        assert response.headers["x-frame-options"] == "DENY"
        assert "'unsafe-inline'" in policy["script-src"]  # Swagger UI starts inline
        assert "'self'" in policy["connect-src"]  # it fetches /openapi.json
        html = response.text
        for tag, url in re.findall(r'<(script|link)[^>]*(?:src|href)="([^"]+)"', html):
            directive = "script-src" if tag == "script" else "style-src"
            if url.endswith((".png", ".ico")):
                directive = "img-src"
            origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
            assert origin in policy[directive], (tag, url)
