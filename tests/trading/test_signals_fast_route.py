"""``GET /api/v1/signals``'s shortcut past FastAPI's dependency solving (``_ListingRoute``).

A plain query (``symbol`` and ``limit`` at most once each, ``limit`` a plain number in range)
is answered without ``solve_dependencies``; anything else goes through FastAPI. The answer
must not tell them apart: the same status, body and headers as FastAPI's handler gives for
the same request (a harmless unknown key sends a request through FastAPI's handler, which
ignores the key), and FastAPI's errors in FastAPI's order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import routing as fastapi_routing

import chainflow.trading.routes as listing_routes
from chainflow.runtime.kernel import Kernel
from tests.fixtures.api_client import logged_in_client
from tests.trading.test_signals_read import signal, store

# Headers that differ between any two answers.
_PER_ANSWER_HEADERS = {"x-request-id", "ratelimit-remaining", "ratelimit-reset"}
SolveCounter = list[int]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Kernel, str]]:
    async with logged_in_client(tmp_path / "home") as connected:
        http, kernel, tenant_id = connected
        euro = [signal("EURUSD", bar) for bar in range(4)]
        await store(kernel, tenant_id, *euro, signal("GBPUSD", 9, "sell", reasons=[]))
        yield connected


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> SolveCounter:
    """Count FastAPI's dependency solving (one per request FastAPI's handler takes)."""
    counter = [0]
    original: Callable[..., Awaitable[Any]] = fastapi_routing.solve_dependencies

    async def counting(**kwargs: Any) -> Any:
        counter[0] += 1
        return await original(**kwargs)

    monkeypatch.setattr(fastapi_routing, "solve_dependencies", counting)
    return counter


def answer_of(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in _PER_ANSWER_HEADERS}
    return response.status_code, response.content, headers


async def through_both(
    http: httpx.AsyncClient, query: str, solved: SolveCounter, **request: Any
) -> tuple[httpx.Response, httpx.Response]:
    """Return the answers to ``query`` by the shortcut and by FastAPI's handler."""
    before = solved[0]
    short = await http.get(f"/api/v1/signals{query}", **request)
    assert solved[0] == before, f"{query!r} went through FastAPI's handler"
    separator = "&" if query else "?"
    full = await http.get(f"/api/v1/signals{query}{separator}unused=1", **request)
    assert solved[0] == before + 1, f"{query!r}&unused=1 did not go through FastAPI's handler"
    return short, full


class TestPlainQueries:
    @pytest.mark.parametrize(
        "query",
        [
            "",
            "?limit=20",
            "?limit=1",
            "?limit=1000",
            "?symbol=EURUSD",
            "?symbol=%20gbpusd%20&limit=2",
            "?limit=3&symbol=eurusd",
            "?symbol=",
            "?symbol=%20",
            "?symbol=USDJPY",
        ],
    )
    async def test_the_shortcut_answers_as_fastapi_does(
        self, client: tuple[httpx.AsyncClient, Kernel, str], solved: SolveCounter, query: str
    ) -> None:
        http, _, _ = client

        short, full = await through_both(http, query, solved)

        assert short.status_code == 200
        assert answer_of(short) == answer_of(full)
        assert "ratelimit-remaining" in short.headers
        assert "x-request-id" in short.headers

    async def test_the_listing_reads_what_the_query_asks(
        self, client: tuple[httpx.AsyncClient, Kernel, str], solved: SolveCounter
    ) -> None:
        http, _, _ = client

        everything = (await http.get("/api/v1/signals")).json()["items"]
        two_euro = (await http.get("/api/v1/signals?symbol=%20eurusd&limit=2")).json()["items"]

        assert solved[0] == 0
        assert [item["symbol"] for item in everything] == ["GBPUSD", *["EURUSD"] * 4]
        assert two_euro == [signal("EURUSD", 3).to_wire(), signal("EURUSD", 2).to_wire()]

    async def test_an_unauthenticated_plain_query_is_refused_as_fastapi_refuses_it(
        self, client: tuple[httpx.AsyncClient, Kernel, str], solved: SolveCounter
    ) -> None:
        http, _, _ = client
        for authorization in ("", "Bearer not-a-token"):
            headers = {"Authorization": authorization}

            short, full = await through_both(http, "?limit=20", solved, headers=headers)

            assert short.status_code == 401
            assert answer_of(short) == answer_of(full)


class TestOtherQueriesGoThroughFastAPI:
    @pytest.mark.parametrize(
        "query",
        ["limit=0", "limit=1001", "limit=abc", "limit=", "limit=-5", "limit=99999"],
    )
    async def test_a_limit_out_of_range_or_not_a_number_is_fastapis_422(
        self, client: tuple[httpx.AsyncClient, Kernel, str], solved: SolveCounter, query: str
    ) -> None:
        http, _, _ = client

        answer = await http.get(f"/api/v1/signals?{query}")

        assert solved[0] == 1
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == "invalid_input"

    @pytest.mark.parametrize("query", ["limit=020", "limit=+5", "limit=%205", "limit=9&limit=2"])
    async def test_an_unusual_spelling_is_left_to_fastapi(
        self, client: tuple[httpx.AsyncClient, Kernel, str], solved: SolveCounter, query: str
    ) -> None:
        http, _, _ = client

        answer = await http.get(f"/api/v1/signals?{query}")

        assert solved[0] == 1
        assert answer.status_code in (200, 422)

    async def test_a_dependency_override_sends_every_request_through_fastapi(
        self, client: tuple[httpx.AsyncClient, Kernel, str], solved: SolveCounter
    ) -> None:
        http, _, _ = client
        app = http._transport.app  # type: ignore[attr-defined]

        def unrelated() -> None:
            return None

        app.dependency_overrides[unrelated] = unrelated
        try:
            answer = await http.get("/api/v1/signals?limit=2")
        finally:
            app.dependency_overrides.clear()

        assert solved[0] == 1
        assert answer.status_code == 200
        assert len(answer.json()["items"]) == 2

    async def test_authentication_is_checked_before_the_query(
        self, client: tuple[httpx.AsyncClient, Kernel, str], solved: SolveCounter
    ) -> None:
        http, _, _ = client

        answer = await http.get("/api/v1/signals?limit=0", headers={"Authorization": ""})

        assert solved[0] == 1
        assert answer.status_code == 401


class TestAnotherFastApi:
    async def test_without_fastapis_private_route_context_no_shortcut_is_built(
        self, tmp_path: Path, solved: SolveCounter, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The pyproject admits FastAPI releases without the private name the shortcut reads:
        # the app still starts and every listing goes through FastAPI's handler.
        monkeypatch.setattr(listing_routes, "fastapi_routing", SimpleNamespace())
        async with logged_in_client(tmp_path / "home") as (http, kernel, tenant_id):
            await store(kernel, tenant_id, signal("EURUSD", 1))
            before = solved[0]
            answer = await http.get("/api/v1/signals?limit=5")
            assert answer.status_code == 200, answer.text
            assert [item["symbol"] for item in answer.json()["items"]] == ["EURUSD"]
            assert solved[0] == before + 1
