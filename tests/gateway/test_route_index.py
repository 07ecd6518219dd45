"""Routing through ``PrefixedBranch``es answers as FastAPI's scan of every route would.

``create_gateway`` wraps each service router in a branch that a path outside its routes
skips without scanning them. These tests pin, over HTTP, that every route is still reached
(literal, with path parameters, a catch-all), that a wrong method is still 405, an unknown
path 404 in the gateway's error shape, a trailing slash still redirected, and that a branch
indexes the literal beginnings of its routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import httpx
import pytest
from fastapi import APIRouter, FastAPI, WebSocket
from prometheus_client import CollectorRegistry

from chainflow.core.health import HealthReport
from chainflow.gateway.api import MountedRouter
from chainflow.gateway.app import create_gateway
from chainflow.gateway.route_index import PrefixedBranch, branch_of


def _service_router(name: str) -> APIRouter:
    router = APIRouter(prefix=f"/{name}")

    @router.get("")
    async def listing() -> dict[str, str]:
        return {"service": name, "route": "listing"}

    @router.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, object]:
        return {"service": name, "item": item_id}

    nested = APIRouter(prefix="/nested")

    @nested.get("/{rest:path}")
    async def catch_all(rest: str) -> dict[str, str]:
        return {"service": name, "rest": rest}

    router.include_router(nested)
    return router


def _root_router() -> APIRouter:
    router = APIRouter()

    @router.get("/shared/{anything}")
    async def shared(anything: str) -> dict[str, str]:
        return {"service": "root", "anything": anything}

    return router


async def _ready() -> Sequence[HealthReport]:
    return []


def _app() -> FastAPI:
    return create_gateway(
        title="t",
        version="0",
        routers=[
            MountedRouter(service="alpha", router=_service_router("alpha")),
            MountedRouter(service="beta", router=_service_router("beta")),
            MountedRouter(service="root", router=_root_router(), prefix=""),
        ],
        readiness=_ready,
        metrics_registry=CollectorRegistry(),
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


class TestRoutesThroughBranches:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            ("/api/v1/alpha", {"service": "alpha", "route": "listing"}),
            ("/api/v1/beta", {"service": "beta", "route": "listing"}),
            ("/api/v1/beta/items/7", {"service": "beta", "item": 7}),
            ("/api/v1/alpha/nested/a/b", {"service": "alpha", "rest": "a/b"}),
            ("/shared/x", {"service": "root", "anything": "x"}),
        ],
    )
    async def test_every_route_is_reached(
        self, client: httpx.AsyncClient, path: str, expected: dict[str, object]
    ) -> None:
        answer = await client.get(path)

        assert answer.status_code == 200, answer.text
        assert answer.json() == expected

    async def test_a_wrong_method_is_405(self, client: httpx.AsyncClient) -> None:
        answer = await client.post("/api/v1/beta/items/7")

        assert answer.status_code == 405
        assert answer.json()["error"]["code"] == "method_not_allowed"

    async def test_an_unknown_path_is_404_in_the_error_shape(
        self, client: httpx.AsyncClient
    ) -> None:
        answer = await client.get("/api/v1/gamma")

        assert answer.status_code == 404
        assert set(answer.json()["error"]) >= {"code", "message"}

    async def test_a_parameter_that_does_not_convert_is_422(
        self, client: httpx.AsyncClient
    ) -> None:
        answer = await client.get("/api/v1/alpha/items/seven")

        assert answer.status_code == 422

    async def test_a_trailing_slash_is_still_redirected(self, client: httpx.AsyncClient) -> None:
        answer = await client.get("/api/v1/beta/items/7/")

        assert answer.status_code == 307
        assert answer.headers["location"].endswith("/api/v1/beta/items/7")

    async def test_the_openapi_document_lists_every_route(self, client: httpx.AsyncClient) -> None:
        paths = set((await client.get("/openapi.json")).json()["paths"])

        assert {
            "/api/v1/alpha",
            "/api/v1/alpha/items/{item_id}",
            "/api/v1/alpha/nested/{rest}",
            "/api/v1/beta",
            "/shared/{anything}",
        } <= paths


class TestBranchIndex:
    def test_a_branch_tests_the_literal_beginnings_of_its_routes(self) -> None:
        branch = branch_of(_service_router("alpha"), prefix="/api/v1", tags=["alpha"])

        def may_match(path: str) -> bool:
            return branch._may_match({"type": "http", "path": path, "root_path": ""})

        assert may_match("/api/v1/alpha")
        assert may_match("/api/v1/alpha/items/3")
        assert not may_match("/api/v1/beta/items/3")
        assert not may_match("/health")


def _branches(app: FastAPI) -> list[PrefixedBranch]:
    found = []
    for route in app.router.routes:
        original = getattr(route, "original_router", None)
        if isinstance(original, PrefixedBranch):
            found.append(original)
    return found


class TestLiteralPathMemo:
    @pytest.fixture
    def app(self) -> FastAPI:
        return _app()

    @pytest.fixture
    async def http(self, app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http

    async def test_a_literal_path_answers_the_same_once_remembered(
        self, app: FastAPI, http: httpx.AsyncClient
    ) -> None:
        answers = [await http.get("/api/v1/alpha") for _ in range(3)]

        assert [a.status_code for a in answers] == [200, 200, 200]
        assert all(a.json() == {"service": "alpha", "route": "listing"} for a in answers)
        remembered = [key for branch in _branches(app) for key in branch._full_matches]
        assert remembered == [("GET", "/api/v1/alpha")]

    async def test_another_method_on_a_remembered_path_is_still_405(
        self, app: FastAPI, http: httpx.AsyncClient
    ) -> None:
        await http.get("/api/v1/beta")

        refused = await http.post("/api/v1/beta")
        again = await http.get("/api/v1/beta")

        assert refused.status_code == 405
        assert refused.json()["error"]["code"] == "method_not_allowed"
        assert again.json() == {"service": "beta", "route": "listing"}
        remembered = [key for branch in _branches(app) for key in branch._full_matches]
        assert remembered == [("GET", "/api/v1/beta")]

    async def test_paths_with_parameters_or_unknown_are_not_remembered(
        self, app: FastAPI, http: httpx.AsyncClient
    ) -> None:
        for path in ("/api/v1/alpha/items/1", "/api/v1/alpha/items/2", "/api/v1/alpha/x"):
            await http.get(path)
        await http.get("/api/v1/alpha/nested/a")
        await http.get("/shared/y")

        assert [key for branch in _branches(app) for key in branch._full_matches] == []

    async def test_a_root_path_is_scanned_as_before(self, app: FastAPI) -> None:
        transport = httpx.ASGITransport(app=app, root_path="/prefix")
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answer = await http.get("/prefix/api/v1/alpha")

        assert answer.status_code == 200
        assert [key for branch in _branches(app) for key in branch._full_matches] == []

    async def test_a_branch_with_a_websocket_route_keeps_no_memo(self) -> None:
        router = _service_router("alpha")

        @router.websocket("/stream")
        async def stream(websocket: WebSocket) -> None:
            await websocket.close()

        branch = branch_of(router, prefix="/api/v1", tags=["alpha"])
        branch._index()

        assert branch._literal_paths == frozenset()
