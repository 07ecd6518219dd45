"""``chainflow serve`` under abuse (issue 14): bounded bodies, private probes, safe headers.

A real server process on embedded storage; requests are written on raw sockets where the
point is what the server does before the client has sent everything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures.processes import running_server
from tests.fixtures.raw_http import MIB, chunked_body, send_until_answered

PASSWORD = "Hardened-Gateway-2026!"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("hardening") / "home"
    env = {"CHAINFLOW_HTTP_BODY_LIMITS": json.dumps({"/api/v1/market/aliases": 4 * MIB})}
    with running_server(home, env=env) as base:
        yield base, home


def _address(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


class TestRegisterBody:
    def test_a_100_mb_body_is_refused_before_it_is_sent(self, served: tuple[str, Path]) -> None:
        base, _ = served
        head = (
            b"POST /api/v1/auth/register HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: application/json\r\n" + f"Content-Length: {100 * MIB}\r\n\r\n".encode()
        )
        chunks = (b"x" * (64 * 1024) for _ in range(100 * 16))

        answer, sent = send_until_answered(_address(base), head, chunks)

        assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
        assert b'"code":"body_too_large"' in answer
        assert sent < 100 * MIB // 4

    def test_a_chunked_body_is_cut_off_near_the_limit(self, served: tuple[str, Path]) -> None:
        base, _ = served
        head = (
            b"POST /api/v1/auth/register HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )

        answer, sent = send_until_answered(_address(base), head, chunked_body(64 * 1024, 100 * MIB))

        assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
        assert sent < 100 * MIB // 4

    def test_deep_nesting_is_invalid_schema(self, served: tuple[str, Path]) -> None:
        base, _ = served
        document = '{"email": ' + "[" * 50_000 + "]" * 50_000 + "}"
        response = httpx.post(
            base + "/api/v1/auth/register",
            content=document,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "invalid_schema"
        assert httpx.get(base + "/health").status_code == 200


class TestRouteLimits:
    def test_a_route_given_a_larger_limit_accepts_a_larger_body(
        self, served: tuple[str, Path]
    ) -> None:
        base, _ = served
        credentials = {"email": "aliases@example.com", "password": PASSWORD}
        assert httpx.post(base + "/api/v1/auth/register", json=credentials).status_code == 201
        token = httpx.post(base + "/api/v1/auth/login", json=credentials).json()["access_token"]
        aliases = {f"SYM{i:06d}.x": "EURUSD" for i in range(80_000)}  # about 2 MiB
        response = httpx.put(
            base + "/api/v1/market/aliases",
            json={"aliases": aliases},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert response.status_code != 413, response.text[:300]
        register = httpx.post(base + "/api/v1/auth/register", json={"aliases": aliases})
        assert register.status_code == 413


class TestProbesArePrivate:
    def test_ready_and_cluster_health_show_no_paths(self, served: tuple[str, Path]) -> None:
        base, home = served
        for path in ("/ready", "/api/v1/hub/health"):
            response = httpx.get(base + path)
            assert response.status_code == 200, response.text
            assert str(home.parent) not in response.text, (path, response.text)
            assert ".duckdb" not in response.text and "sqlite+" not in response.text


class TestSecretsAreNotCached:
    def test_token_and_key_responses_are_no_store(self, served: tuple[str, Path]) -> None:
        base, _ = served
        credentials = {"email": "headers@example.com", "password": PASSWORD}
        registered = httpx.post(base + "/api/v1/auth/register", json=credentials)
        login = httpx.post(base + "/api/v1/auth/login", json=credentials)
        token = login.json()["access_token"]
        refreshed = httpx.post(
            base + "/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
        )
        key = httpx.post(
            base + "/api/v1/api-keys",
            json={"name": "terminal", "scopes": ["ticks:write"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        for response in (registered, login, refreshed, key):
            assert response.status_code < 300, response.text
            assert response.headers["cache-control"] == "no-store"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
            assert response.headers["referrer-policy"] == "no-referrer"
