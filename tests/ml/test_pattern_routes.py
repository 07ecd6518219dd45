"""``GET /api/v1/patterns/similar``: too little history is a 200 with a reason, not a 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chainflow.runtime.kernel import Kernel
from tests.fixtures.api_client import logged_in_client
from tests.fixtures.market_data import make_ohlcv
from tests.ml.test_service import bars_of, publish_bars, settle

PARAMS = {"symbol": "EURUSD", "timeframe": "M5", "k": 5}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Kernel, str]]:
    async with logged_in_client(tmp_path / "home") as connected:
        yield connected


class TestSimilarPatterns:
    async def test_no_history_answers_empty_with_the_reason(
        self, client: tuple[httpx.AsyncClient, Kernel, str]
    ) -> None:
        http, _, _ = client

        answer = await http.get("/api/v1/patterns/similar", params=PARAMS)

        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["matches"] == [] and body["window_end_ts"] is None
        assert body["reason"] == (
            "too little history: a window needs 16 stored feature vectors of EURUSD M5 "
            "(one per closed bar); there are 0"
        )

    async def test_a_few_bars_answer_empty_with_how_many_there_are(
        self, client: tuple[httpx.AsyncClient, Kernel, str]
    ) -> None:
        http, kernel, tenant = client
        data = make_ohlcv(5, seed=71)
        await publish_bars(kernel, bars_of(data, "EURUSD"), tenant)
        await settle(kernel, 5)

        answer = await http.get("/api/v1/patterns/similar", params=PARAMS)

        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["matches"] == [] and body["up_share"] is None
        assert body["window_end_ts"] == int(data.ts_ms[-1])
        assert body["reason"].endswith("(one per closed bar); there are 5")

    async def test_openapi_says_the_reason_replaces_a_not_found(
        self, client: tuple[httpx.AsyncClient, Kernel, str]
    ) -> None:
        http, _, _ = client
        schema = (await http.get("/openapi.json")).json()
        operation = schema["paths"]["/api/v1/patterns/similar"]["get"]
        assert "`reason`" in operation["description"]
