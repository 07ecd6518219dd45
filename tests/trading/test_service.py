"""The live trading service on the whole embedded kernel: bars → ... → predictions → signals.

Bars published for a tenant go through features and ml to the trading service. Proves: the
signals stored and listed by ``GET /api/v1/signals`` are exactly the changes of the stable
action of ``ModelStrategy`` replayed on the published predictions (``on_change``); each is
sized in whole lot steps within the lot bounds with stops on the right side of the entry;
they are published on ``signals.<tenant>.<symbol>``; another tenant sees none of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chainflow.bridge.bar_table import persist_bars
from chainflow.core.ids import TenantId
from chainflow.ml.api import PredictionMade, predictions_topic
from chainflow.risk.api import Instrument
from chainflow.runtime.kernel import Kernel
from chainflow.trading.api import signals_topic
from chainflow.trading.decision.inputs import input_from_prediction
from chainflow.trading.decision.strategy import ModelStrategy, StrategyContext
from chainflow.trading.decision.synthesis import TradingPreferences
from tests.fixtures.api_client import PASSWORD, logged_in_client
from tests.fixtures.market_data import make_ohlcv
from tests.ml.test_service import TF, bars_of, collect, publish_bars, settle, train_and_promote

SYMBOL = "EURUSD"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Kernel, str]]:
    async with logged_in_client(tmp_path / "home") as connected:
        yield connected


def expected_changes(predictions: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Replay the predictions through a fresh default strategy; return (ts, action) changes."""
    strategy, action, changes = ModelStrategy(TradingPreferences()), "hold", []
    for body in predictions:
        decision = strategy.on_bar(StrategyContext(input_from_prediction(PredictionMade(**body))))
        if decision.action != action:
            action = decision.action
            changes.append((body["ts"], action))
    return changes


async def listed(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    answer = await http.get("/api/v1/signals", params=params)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def other_tenant_token(http: httpx.AsyncClient) -> str:
    credentials = {"email": "other@example.com", "password": PASSWORD}
    registered = await http.post("/api/v1/auth/register", json=credentials)
    assert registered.status_code == 201, registered.text
    return str((await http.post("/api/v1/auth/login", json=credentials)).json()["access_token"])


def crafted_predictions(tenant: str, ts: list[int]) -> list[PredictionMade]:
    """Strong up for 10 bars, no edge for 10, strong down for 10, and again."""
    phases = (
        {"down": 0.1, "flat": 0.2, "up": 0.7},
        {"down": 0.3, "flat": 0.4, "up": 0.3},
        {"down": 0.7, "flat": 0.2, "up": 0.1},
    )
    return [
        PredictionMade(
            tenant_id=tenant,
            symbol=SYMBOL,
            timeframe=TF.value,
            ts=t,
            model="fx-default@1",
            feature_set="fx-core@1",
            probabilities=phases[(i // 10) % 3],
            expected_volatility=0.0005,
            momentum=0.0,
            horizon=6,
            anomaly=False,
            anomaly_score=None,
            patterns=[],
            latency_ms=1.5,
        )
        for i, t in enumerate(ts)
    ]


async def wait_listed(http: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for _ in range(2000):  # the trading consumer runs behind the bus; up to 20 s
        items = await listed(http, symbol=SYMBOL, limit=1000)
        if len(items) >= count:
            return items
        await asyncio.sleep(0.01)
    return items


def check_signal(signal: dict[str, Any], entry: float) -> None:
    assert signal["type"] == "signal" and signal["symbol"] == SYMBOL
    assert signal["action"] in ("buy", "sell", "hold")
    assert 0.0 <= signal["confidence"] <= 1.0
    assert signal["reasons"] and signal["model"] == "fx-default@1"
    assert signal["seq"] is None and signal["latency_ms"] is None  # not stored
    if signal["action"] == "hold":
        assert signal["size"] == 0 and signal["stop_loss"] is None
        return
    lots = Instrument(SYMBOL)
    assert lots.min_lot <= signal["size"] <= lots.max_lot
    steps = signal["size"] / lots.lot_step
    assert abs(steps - round(steps)) < 1e-6
    if signal["action"] == "buy":
        assert signal["stop_loss"] < entry < signal["take_profit"]
    else:
        assert signal["take_profit"] < entry < signal["stop_loss"]


async def test_predictions_become_sized_on_change_signals_listed_per_tenant(
    client: tuple[httpx.AsyncClient, Kernel, str],
) -> None:
    http, kernel, tenant = client
    data = make_ohlcv(60, seed=82)
    bars = bars_of(data, SYMBOL)
    await persist_bars(kernel.infra.timeseries, TenantId(tenant), bars)  # entry prices
    published = await collect(kernel, signals_topic(tenant, SYMBOL))
    predictions = crafted_predictions(tenant, [b.ts for b in bars])
    for prediction in predictions:
        await kernel.infra.bus.publish(
            predictions_topic(tenant, SYMBOL, TF.value), prediction.to_json()
        )

    changes = expected_changes([p.to_dict() for p in predictions])
    assert {a for _, a in changes} == {"buy", "sell", "hold"}
    items = await wait_listed(http, len(changes))

    assert [(s["ts"], s["action"]) for s in reversed(items)] == changes
    closes = {b.ts: b.close for b in bars}
    for signal in items:
        check_signal(signal, closes[signal["ts"]])
    pairs = list(zip(items, items[1:], strict=False))
    assert all(a["action"] != b["action"] for a, b in pairs)  # on_change only
    for _ in range(500):
        if len(published) >= len(items):
            break
        await asyncio.sleep(0.01)

    # The bus frame carries the live latency; the stored signal does not keep it.
    def without_latency(signals: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in s.items() if k != "latency_ms"} for s in signals]

    in_order = sorted(published, key=lambda s: s["ts"])
    assert without_latency(in_order) == without_latency(list(reversed(items)))
    assert all(s["latency_ms"] >= 1.5 for s in published)  # the ml latency is included
    assert len(await listed(http, symbol=SYMBOL, limit=1)) == 1
    assert await listed(http, symbol="GBPUSD") == []

    http.headers["Authorization"] = f"Bearer {await other_tenant_token(http)}"
    assert await listed(http) == []


async def test_live_pipeline_signals_are_the_strategy_on_the_published_predictions(
    client: tuple[httpx.AsyncClient, Kernel, str], tmp_path: Path
) -> None:
    """Bars through features and ml: the stored signals replay the model's predictions.

    The fixture model is weak on random data (edges stay below the moderate bar), so it
    may issue no signal at all; the point is that trading sees every prediction.
    """
    http, kernel, tenant = client
    await train_and_promote(kernel, tmp_path / "home", {})
    predictions = await collect(kernel, predictions_topic(tenant, SYMBOL, TF.value))
    data = make_ohlcv(400, seed=81)
    await publish_bars(kernel, bars_of(data, SYMBOL), tenant)
    await settle(kernel, 400)

    assert predictions
    changes = expected_changes(predictions)
    items = await wait_listed(http, len(changes))
    assert [(s["ts"], s["action"]) for s in reversed(items)] == changes
    closes = {int(t): float(c) for t, c in zip(data.ts_ms, data.close, strict=True)}
    for signal in items:
        check_signal(signal, closes[signal["ts"]])


async def test_the_tenants_trading_settings_gate_and_shape_its_signals(
    client: tuple[httpx.AsyncClient, Kernel, str],
) -> None:
    http, kernel, tenant = client
    saved = await http.put(
        "/api/v1/tenant/trading-settings",
        json={"risk_tolerance": "conservative", "allowed_symbols": ["GBPUSD"]},
    )
    assert saved.status_code == 200, saved.text
    data = make_ohlcv(40, seed=83)
    bars = bars_of(data, SYMBOL)
    await persist_bars(kernel.infra.timeseries, TenantId(tenant), bars)
    for prediction in crafted_predictions(tenant, [b.ts for b in bars]):
        await kernel.infra.bus.publish(
            predictions_topic(tenant, SYMBOL, TF.value), prediction.to_json()
        )
    assert kernel.trading is not None
    for _ in range(2000):
        if kernel.trading.stats.predictions >= len(bars):
            break
        await asyncio.sleep(0.01)

    # EURUSD is not among the tenant's allowed symbols: every decision is a hold, so no
    # signal changes anything (the same predictions gave buy and sell signals by default).
    assert kernel.trading.stats.predictions == len(bars)
    assert await listed(http, symbol=SYMBOL) == []
    preferences = await kernel.trading.preferences_source.preferences(tenant)
    assert preferences.risk_tolerance == "conservative"
    assert preferences.allowed_symbols == frozenset({"GBPUSD"})
