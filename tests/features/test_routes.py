"""``/api/v1/features`` on the whole embedded kernel: bars on the bus in, answers out."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from chainflow.bridge.bar_table import persist_bars
from chainflow.bridge.bars import AggregatedBar
from chainflow.bridge.events import BarPublished, bars_topic
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.features.cross_asset import aligned_log_returns, correlation_matrix
from chainflow.runtime.kernel import Kernel
from tests.fixtures.api_client import logged_in_client
from tests.fixtures.market_data import make_ohlcv

TF = Timeframe.H1


def hourly_bars(symbol: str, seed: int, count: int = 300) -> list[AggregatedBar]:
    data = make_ohlcv(count, seed=seed)
    start = 1_760_000_000_000 - 1_760_000_000_000 % 3_600_000
    return [
        AggregatedBar(
            symbol,
            TF,
            start + i * 3_600_000,
            float(data.open[i]),
            float(data.high[i]),
            float(data.low[i]),
            float(data.close[i]),
            float(data.volume[i]),
            50,
            0.00008,
            0.0002,
            0.005,
            start + i * 3_600_000,
            start + i * 3_600_000 + 3_599_000,
        )
        for i in range(count)
    ]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Kernel, str]]:
    async with logged_in_client(tmp_path / "home") as connected:
        yield connected


async def publish(kernel: Kernel, tenant: str, bars: list[AggregatedBar]) -> None:
    await persist_bars(kernel.infra.timeseries, TenantId(tenant), bars)
    for bar in bars:
        event = BarPublished(
            tenant,
            bar.symbol,
            bar.timeframe.value,
            bar.ts,
            bar.open,
            bar.high,
            bar.low,
            bar.close,
            bar.volume,
            bar.tick_count,
            bar.spread_mean,
        )
        await kernel.infra.bus.publish(bars_topic(tenant, bar.symbol, TF), event.to_json())


async def wait_for_vectors(kernel: Kernel, count: int) -> None:
    assert kernel.features is not None
    for _ in range(6000):  # up to 60 s on a loaded CI machine
        if kernel.features.stats.vectors >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} vectors; got {kernel.features.stats.vectors}")


class TestLatest:
    async def test_latest_vector_and_regime_after_bars_on_the_bus(
        self, client: tuple[httpx.AsyncClient, Kernel, str]
    ) -> None:
        http, kernel, tenant = client
        assert (
            await http.get("/api/v1/features/latest", params={"symbol": "EURUSD"})
        ).status_code == 404
        bars = hourly_bars("EURUSD", seed=21)
        await publish(kernel, tenant, bars)
        await wait_for_vectors(kernel, len(bars))

        response = await http.get(
            "/api/v1/features/latest", params={"symbol": "eurusd", "timeframe": "H1"}
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["symbol"], body["ts"], body["feature_set"]) == (
            "EURUSD",
            bars[-1].ts,
            "fx-core@1",
        )
        assert all(value is not None for value in body["features"].values())
        assert body["regime"]["trend"] in {"bull", "bear", "sideways"}
        assert sum(body["regime"]["trend_probabilities"].values()) == pytest.approx(1.0)
        sets = (await http.get("/api/v1/features/sets")).json()
        assert sets[0]["key"] == "fx-core@1"
        assert sets[0]["names"] == list(body["features"])

    async def test_another_tenant_sees_nothing(
        self, client: tuple[httpx.AsyncClient, Kernel, str]
    ) -> None:
        http, kernel, _tenant = client
        await publish(kernel, "0190a5c0-0000-7000-8000-0000000000aa", hourly_bars("EURUSD", 22, 60))
        await wait_for_vectors(kernel, 60)

        response = await http.get(
            "/api/v1/features/latest", params={"symbol": "EURUSD", "timeframe": "H1"}
        )

        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


class TestCorrelation:
    async def test_matrix_strength_and_lead_lag_from_stored_bars(
        self, client: tuple[httpx.AsyncClient, Kernel, str]
    ) -> None:
        http, kernel, tenant = client
        symbols = {"EURUSD": 31, "GBPUSD": 32, "USDJPY": 33}
        stored = {s: hourly_bars(s, seed) for s, seed in symbols.items()}
        for bars in stored.values():
            await persist_bars(kernel.infra.timeseries, TenantId(tenant), bars)

        response = await http.get(
            "/api/v1/features/correlation",
            params={"symbols": "EURUSD,GBPUSD,usdjpy", "timeframe": "H1", "window": 100},
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["symbols"] == ["EURUSD", "GBPUSD", "USDJPY"] and body["rows"] == 100
        _, returns = aligned_log_returns(
            {
                s: (np.array([b.ts for b in bars]), np.array([b.close for b in bars]))
                for s, bars in stored.items()
            }
        )
        np.testing.assert_allclose(body["matrix"], correlation_matrix(returns[-100:]), rtol=1e-9)
        assert set(body["currency_strength"]) == {"EUR", "GBP", "USD", "JPY"}
        assert len(body["lead_lag"]) == 3

    @pytest.mark.parametrize(
        ("params", "status"),
        [
            ({"symbols": "EURUSD"}, 422),
            ({"symbols": "EURUSD,GBPUSD", "window": 2}, 422),
            ({"symbols": "EURUSD,GBPUSD", "timeframe": "M7"}, 422),
            ({"symbols": "EURUSD,GBPUSD"}, 404),
        ],
    )
    async def test_bad_requests_get_clear_errors(
        self, client: tuple[httpx.AsyncClient, Kernel, str], params: dict[str, object], status: int
    ) -> None:
        http, _kernel, _tenant = client

        response = await http.get("/api/v1/features/correlation", params=params)

        assert response.status_code == status, response.text
        assert response.json()["error"]["message"]

    async def test_stored_bars_the_maths_refuse_get_422_not_500(
        self, client: tuple[httpx.AsyncClient, Kernel, str]
    ) -> None:
        # A non-positive close (bad data in the store) reaches the correlation maths, whose
        # ValueError was a 500; it is now the features' typed input error, rendered as such.
        http, kernel, tenant = client
        broken = hourly_bars("GBPUSD", 32)
        broken[150] = dataclasses.replace(broken[150], low=0.0, close=0.0)
        for bars in (hourly_bars("EURUSD", 31), broken):
            await persist_bars(kernel.infra.timeseries, TenantId(tenant), bars)

        response = await http.get(
            "/api/v1/features/correlation", params={"symbols": "EURUSD,GBPUSD", "window": 100}
        )

        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "feature_input_invalid"
        assert error["message"] == "expected positive finite closes; received a non-positive or nan"
