"""Request bodies are bounded before anything parses them: size (413) and JSON depth (422)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request
from prometheus_client import CollectorRegistry

from chainflow.core.health import HealthReport
from chainflow.gateway.api import MountedRouter
from chainflow.gateway.app import create_gateway
from chainflow.gateway.body_limit import BodyLimitMiddleware, BodyLimits
from tests.fixtures.loopback_server import serving_on_loopback
from tests.fixtures.raw_http import MIB, chunked_body, send_until_answered

LIMITS = BodyLimits(default_bytes=MIB, by_path_prefix={"/api/v1/uploads": 8 * MIB})


def _router(calls: list[str]) -> APIRouter:
    router = APIRouter()

    @router.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, int]:
        calls.append("echo")
        return {"keys": len(body)}

    @router.post("/uploads/blob")
    async def upload(request: Request) -> dict[str, int]:
        calls.append("upload")
        return {"bytes": len(await request.body())}

    @router.post("/uploadsextra")
    async def not_an_upload(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return router


def _app(calls: list[str]):
    async def readiness() -> list[HealthReport]:
        return []

    return create_gateway(
        title="t",
        version="0",
        routers=[MountedRouter(service="demo", router=_router(calls))],
        readiness=readiness,
        metrics_registry=CollectorRegistry(),
        body_limits=LIMITS,
    )


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
async def client(calls: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(calls))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


class Chunks:
    """A streamed request body that counts how much of it the server pulled."""

    def __init__(self, chunk_bytes: int, total_bytes: int) -> None:
        self.chunk = b" " * chunk_bytes
        self.count = total_bytes // chunk_bytes
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            self.pulled += 1
            yield self.chunk


class TestSizeLimit:
    async def test_body_within_the_limit_reaches_the_route_intact(
        self, client: httpx.AsyncClient
    ) -> None:
        body = {f"k{i}": "x" * 100 for i in range(5000)}  # about 0.6 MiB
        response = await client.post("/api/v1/echo", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == {"keys": 5000}

    async def test_declared_length_over_the_limit_is_refused_unread(
        self, client: httpx.AsyncClient, calls: list[str]
    ) -> None:
        body = Chunks(64 * 1024, 100 * MIB)
        headers = {"Content-Length": str(100 * MIB), "Content-Type": "application/json"}

        response = await client.post("/api/v1/echo", content=body, headers=headers)

        assert response.status_code == 413
        assert response.headers["connection"] == "close"
        assert response.json()["error"]["code"] == "body_too_large"
        assert response.json()["error"]["details"] == {"max_bytes": MIB}
        assert body.pulled <= 1 and calls == []

    async def test_chunked_body_is_cut_off_at_the_limit(
        self, client: httpx.AsyncClient, calls: list[str]
    ) -> None:
        body = Chunks(64 * 1024, 100 * MIB)

        response = await client.post("/api/v1/echo", content=body)

        assert "content-length" not in response.request.headers
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"
        assert body.pulled == MIB // (64 * 1024) + 1  # the first chunk past the limit
        assert calls == []

    async def test_a_content_length_that_lies_is_caught_by_counting(self) -> None:
        reached: list[bytes] = []

        async def app(_scope: Any, receive: Any, _send: Any) -> None:
            reached.append((await receive())["body"])

        middleware = BodyLimitMiddleware(app, limits=BodyLimits(default_bytes=1000))
        chunks = iter([b"a" * 600, b"b" * 600, b"c" * 600])
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": next(chunks), "more_body": True}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/x",
            "headers": [
                (b"content-length", b"10"),
                (b"content-type", b"application/json"),
            ],
        }
        await middleware(scope, receive, send)

        assert sent[0]["status"] == 413 and reached == []
        assert next(chunks) == b"c" * 600  # the third chunk was never read

    async def test_routes_declared_larger_accept_more(self, client: httpx.AsyncClient) -> None:
        blob = b"\0" * (3 * MIB)
        upload = await client.post("/api/v1/uploads/blob", content=blob)
        assert upload.status_code == 200 and upload.json() == {"bytes": 3 * MIB}
        lookalike = await client.post("/api/v1/uploadsextra", content=blob)
        assert lookalike.status_code == 413

    def test_longest_prefix_wins(self) -> None:
        limits = BodyLimits(default_bytes=10, by_path_prefix={"/a": 20, "/a/b/": 30})
        assert [limits.for_path(p) for p in ("/x", "/a", "/a/x", "/a/b", "/a/b/c", "/ab")] == [
            10,
            20,
            20,
            30,
            30,
            10,
        ]


class TestJsonDepth:
    @pytest.mark.parametrize(
        "document",
        [
            "[" * 100_000 + "]" * 100_000,
            '{"items": ' + "[" * 5000 + "]" * 5000 + "}",
            '{"a":' * 40 + "1" + "}" * 40,
            "[" * 100_000,
        ],
        ids=["brackets", "deep-items", "objects", "unbalanced"],
    )
    async def test_deep_nesting_is_invalid_schema_without_recursion(
        self, client: httpx.AsyncClient, calls: list[str], document: str
    ) -> None:
        response = await client.post(
            "/api/v1/echo", content=document, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_schema"
        assert response.json()["error"]["details"] == {"max_depth": 32}
        assert calls == []

    async def test_nesting_up_to_the_limit_and_brackets_in_strings_pass(
        self, client: httpx.AsyncClient
    ) -> None:
        at_limit = '{"a":' + "[" * 31 + "]" * 31 + "}"
        in_string = json.dumps({"text": "[" * 1000 + '\\"{' * 100})
        for document in (at_limit, in_string):
            response = await client.post(
                "/api/v1/echo", content=document, headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 200, response.text


class TestOverRealHttp:
    def test_a_100_mb_declared_body_is_answered_before_it_is_sent(self, calls: list[str]) -> None:
        head = (
            b"POST /api/v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {100 * MIB}\r\n\r\n".encode()
        )
        with serving_on_loopback(_app(calls)) as address:
            answer, sent = send_until_answered(address, head, [])

        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert b"body_too_large" in answer and b"connection: close" in answer.lower()
        assert sent == 0 and calls == []

    def test_a_chunked_body_is_cut_off_near_the_limit(self, calls: list[str]) -> None:
        head = (
            b"POST /api/v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        with serving_on_loopback(_app(calls)) as address:
            answer, sent = send_until_answered(address, head, chunked_body(64 * 1024, 100 * MIB))

        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert b"body_too_large" in answer
        assert sent < 100 * MIB // 4 and calls == []
