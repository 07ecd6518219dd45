"""``GET /api/v1/models/{name}/performance`` on the embedded kernel, from stored scores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chainflow.core.ids import TenantId
from chainflow.ml.live.prediction_table import SCORES_TABLE
from chainflow.runtime.kernel import Kernel
from tests.fixtures.api_client import logged_in_client
from tests.fixtures.market_data import make_ohlcv
from tests.ml.test_service import bars_of, publish_bars, settle, train_and_promote


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Kernel, str]]:
    async with logged_in_client(tmp_path / "home") as connected:
        yield connected


async def test_performance_reports_stored_scores_and_training_baselines(
    client: tuple[httpx.AsyncClient, Kernel, str], tmp_path: Path
) -> None:
    http, kernel, tenant = client
    missing = await http.get("/api/v1/models/fx-default/performance", params={"symbol": "EURUSD"})
    assert missing.status_code == 404
    await train_and_promote(kernel, tmp_path / "home", {})
    rows = [
        {
            "tenant_id": tenant,
            "symbol": "EURUSD",
            "ts": 1_700_000_000_000 + i * 300_000,
            "timeframe": "M5",
            "model": "fx-default@1",
            "p_down": 0.2,
            "p_flat": 0.2,
            "p_up": 0.6,
            "realized": 2 if i % 4 else 0,
            "scored_at_ts": 0,
        }
        for i in range(40)
    ]
    await kernel.infra.timeseries.append(SCORES_TABLE.name, rows)

    answer = await http.get(
        "/api/v1/models/fx-default/performance", params={"symbol": "eurusd", "timeframe": "M5"}
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["model"], body["symbol"], body["scored"]) == ("fx-default@1", "EURUSD", 40)
    assert body["hit_rate"] == pytest.approx(0.75)
    assert body["brier"] == pytest.approx(0.75 * 0.24 + 0.25 * 1.04)  # by hand
    assert body["training"]["baselines"]["majority"]["accuracy"] > 0
    assert body["drift"]["vectors"] == 0
    other = await kernel.infra.timeseries.scan(
        SCORES_TABLE.name,
        tenant_id=TenantId("someone-else"),
        symbol="EURUSD",
        start_ms=0,
        end_ms=2**62,
    )
    assert other == []


async def test_similar_patterns_of_the_latest_window(
    client: tuple[httpx.AsyncClient, Kernel, str], tmp_path: Path
) -> None:
    http, kernel, tenant = client
    params = {"symbol": "EURUSD", "timeframe": "M5", "k": 5}
    early = await http.get("/api/v1/patterns/similar", params=params)
    assert early.status_code == 200 and early.json()["matches"] == []
    await train_and_promote(kernel, tmp_path / "home", {})
    data = make_ohlcv(330, seed=71)
    await publish_bars(kernel, bars_of(data, "EURUSD"), tenant)
    await settle(kernel, 330)

    answer = await http.get("/api/v1/patterns/similar", params=params)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["window_end_ts"] == int(data.ts_ms[-1]) and len(body["matches"]) == 5
    assert body["reason"] is None
    assert all(m["known_ts"] < body["window_end_ts"] for m in body["matches"])
    assert {m["label"] for m in body["matches"]} <= {"down", "flat", "up"}
    scores = [m["score"] for m in body["matches"]]
    assert scores == sorted(scores, reverse=True)
