"""The live ml service on the whole embedded kernel: bars → features → predictions → scores.

A LightGBM bundle trained here is registered and promoted as ``fx-default``; bars published
on the bus go through the features service to the ml service. Proves: the published
probabilities equal the bundle run on the batch feature matrix; predictions are stored;
each is scored once its horizon has passed, exactly as the training labels; a model below
its baseline raises an alert; a restarted service scores the predictions it had pending.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainflow.bridge.bar_table import persist_bars
from chainflow.bridge.bars import AggregatedBar
from chainflow.bridge.events import BarPublished, bars_topic
from chainflow.core.ids import TenantId
from chainflow.core.market import BarSeries, Timeframe
from chainflow.core.settings import MlSettings
from chainflow.features.api import feature_matrix, get_feature_set
from chainflow.features.batch.volatility import atr
from chainflow.hub.api import BusMessage
from chainflow.ml.api import ModelRegistration, model_registry
from chainflow.ml.events import alerts_topic, predictions_topic
from chainflow.ml.live.model_cache import ServedModels
from chainflow.ml.live.prediction_table import SCORES_TABLE
from chainflow.ml.registry.model_registry import local_model_registry
from chainflow.ml.training.datasets import build_dataset
from chainflow.ml.training.labels import LabelSpec, direction_labels
from chainflow.ml.training.run import TrainingConfig, train_on_dataset
from chainflow.ml.training.serving import ModelBundle
from chainflow.runtime.kernel import Kernel
from tests.fixtures.market_data import OHLCV, make_ohlcv
from tests.fixtures.settings import embedded_settings

TENANT = "0190a5c0-0000-7000-8000-00000000ml01"
TF = Timeframe.M5
SPEC = LabelSpec(horizon=6, threshold_atr=0.5)
SERVICES = "hub,storage,bridge,features,ml"


def bars_of(data: OHLCV, symbol: str) -> list[AggregatedBar]:
    return [
        AggregatedBar(
            symbol,
            TF,
            int(data.ts_ms[i]),
            float(data.open[i]),
            float(data.high[i]),
            float(data.low[i]),
            float(data.close[i]),
            float(data.volume[i]),
            10,
            0.0001,
            0.0001,
            0.001,
            int(data.ts_ms[i]),
            int(data.ts_ms[i]) + 1,
        )
        for i in range(len(data.close))
    ]


async def train_and_promote(kernel: Kernel, home: Path, metrics_patch: dict[str, Any]) -> bytes:
    data = make_ohlcv(1500, seed=51)
    bars = BarSeries.from_arrays(
        ts=data.ts_ms,
        open=data.open,
        high=data.high,
        low=data.low,
        close=data.close,
        volume=data.volume,
        spread=np.full(1500, 0.0001),
    )
    dataset = build_dataset(bars, get_feature_set("fx-core@1"), SPEC)
    result = train_on_dataset(dataset, TrainingConfig(family="lightgbm", n_folds=2))
    registry = local_model_registry(home, kernel.clock)
    registration = ModelRegistration(
        name="fx-default",
        family="lightgbm",
        feature_set=dataset.feature_set,
        feature_set_fingerprint=dataset.fingerprint,
        label=SPEC.to_dict(),
        symbols=["EURUSD"],
        timeframe=TF.value,
        train_from_ts=int(dataset.ts[0]),
        train_to_ts=int(dataset.ts[-1]),
        metrics={**result.metrics(), "feature_stats": result.feature_stats, **metrics_patch},
    )
    async with kernel.infra.database.unit_of_work(system=True) as uow:
        version = await registry.register(uow, registration, result.onnx)
        await registry.promote(  # synthetic bars: the verdict is not what these tests check
            uow, "fx-default", version.version, force=True, reason="test: synthetic bars"
        )
    return result.onnx


@pytest.fixture
async def kernel(tmp_path: Path) -> AsyncIterator[Kernel]:
    settings = embedded_settings(tmp_path / "home", ml=MlSettings(min_scored=5, refresh_s=0.01))
    running = Kernel(settings, services=SERVICES)
    running.build()
    await running.start()
    yield running
    await running.stop()


async def publish_bars(kernel: Kernel, bars: list[AggregatedBar], tenant: str = TENANT) -> None:
    store, bus = kernel.infra.timeseries, kernel.infra.bus
    await persist_bars(store, TenantId(tenant), bars)
    for bar in bars:
        event = BarPublished(
            tenant,
            bar.symbol,
            TF.value,
            bar.ts,
            bar.open,
            bar.high,
            bar.low,
            bar.close,
            bar.volume,
            bar.tick_count,
            bar.spread_mean,
        )
        await bus.publish(bars_topic(tenant, bar.symbol, TF), event.to_json())


async def settle(kernel: Kernel, vectors: int) -> None:
    assert kernel.features is not None and kernel.ml is not None
    for _ in range(6000):  # up to 60 s on a loaded CI machine
        if kernel.features.stats.vectors >= vectors and kernel.ml.stats.vectors >= vectors:
            await kernel.ml.drain()
            return
        await asyncio.sleep(0.01)
    raise AssertionError(
        f"expected {vectors} vectors; features {kernel.features.stats.vectors}, "
        f"ml {kernel.ml.stats.vectors}"
    )


async def collect(kernel: Kernel, subject: str) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []

    async def on(message: BusMessage) -> None:
        received.append(json.loads(message.data))

    await kernel.infra.bus.subscribe(subject, on)
    return received


class TestLivePredictions:
    async def test_predictions_equal_the_bundle_on_batch_features_and_get_scored(
        self, kernel: Kernel, tmp_path: Path
    ) -> None:
        onnx = await train_and_promote(kernel, tmp_path / "home", {})
        data = make_ohlcv(320, seed=52)
        bars = bars_of(data, "EURUSD")
        made = await collect(kernel, predictions_topic(TENANT, "EURUSD", TF.value))

        await publish_bars(kernel, bars)
        await settle(kernel, len(bars))

        fs = get_feature_set("fx-core@1")
        matrix = feature_matrix(
            fs,
            BarSeries.from_arrays(
                ts=data.ts_ms,
                open=data.open,
                high=data.high,
                low=data.low,
                close=data.close,
                volume=data.volume,
                spread=np.full(len(bars), 0.0001),
            ),
        )
        ready = np.flatnonzero(np.all(np.isfinite(matrix), axis=1))
        assert [p["ts"] for p in made] == [int(data.ts_ms[i]) for i in ready]
        want = ModelBundle(onnx).predict(matrix[ready])
        got = np.array([[p["probabilities"][c] for c in ("down", "flat", "up")] for p in made])
        np.testing.assert_allclose(got, want.probabilities, atol=1e-6)
        np.testing.assert_allclose([p["momentum"] for p in made], want.momentum, atol=1e-6)
        assert made[0]["model"] == "fx-default@1" and made[0]["horizon"] == SPEC.horizon

        scores = await kernel.infra.timeseries.scan(
            SCORES_TABLE.name,
            tenant_id=TenantId(TENANT),
            symbol="EURUSD",
            start_ms=0,
            end_ms=2**62,
        )
        labels = direction_labels(data.close, atr(data.high, data.low, data.close, 14), 6, 0.5)
        by_ts = {int(t): i for i, t in enumerate(data.ts_ms)}
        assert len(scores) == len(ready) - SPEC.horizon
        assert all(row["realized"] == labels[by_ts[row["ts"]]] for row in scores)
        # Scored windows enter the pattern memory; later predictions cite their neighbours.
        assert made[0]["similar"] is None or made[0]["similar"]["matches"] == 0
        last = made[-1]["similar"]
        assert last["matches"] == 10 and 0.0 <= last["up_share"] <= 1.0

    async def test_below_baseline_raises_an_alert_and_restart_scores_pending(
        self, kernel: Kernel, tmp_path: Path
    ) -> None:
        # A baseline no model reaches: the alert must fire once min_scored (5) are in.
        await train_and_promote(
            kernel, tmp_path / "home", {"baselines": {"majority": {"accuracy": 0.99}}}
        )
        alerts = await collect(kernel, alerts_topic(TENANT))
        data = make_ohlcv(300, seed=53)
        bars = bars_of(data, "GBPUSD")
        await publish_bars(kernel, bars[:260])
        await settle(kernel, 260)
        assert alerts and alerts[0]["type"] == "model_underperforming"
        assert alerts[0]["baseline_accuracy"] == 0.99

        await kernel.stop()  # the pending predictions of the last 6 bars are in the store only
        restarted = Kernel(kernel.settings, services=SERVICES)
        restarted.build()
        await restarted.start()
        try:
            before = await _score_count(restarted, "GBPUSD")
            await publish_bars(restarted, bars[260:])
            await settle(restarted, 40)
            after = await _score_count(restarted, "GBPUSD")
            assert after - before == 40  # 6 pending from before the restart + 34 new
        finally:
            await restarted.stop()


async def _score_count(kernel: Kernel, symbol: str) -> int:
    rows = await kernel.infra.timeseries.scan(
        SCORES_TABLE.name, tenant_id=TenantId(TENANT), symbol=symbol, start_ms=0, end_ms=2**62
    )
    return len(rows)


async def test_a_promotion_is_picked_up_in_the_background(kernel: Kernel, tmp_path: Path) -> None:
    """The hot path never waits on the registry for a tenant it already serves."""
    # A cache of its own: the kernel's is also read by the ml service's background work,
    # whose refreshes on a loaded machine could pick version 2 up before the read below.
    infra = kernel.infra
    models = ServedModels(
        model_registry(kernel.settings, infra.database, kernel.clock),
        infra.database,
        kernel.clock,
        kernel.settings.ml,
    )
    await train_and_promote(kernel, tmp_path / "home", {})
    first = await models.resolve(TENANT)
    assert first is not None and first.version.version == 1

    await train_and_promote(kernel, tmp_path / "home", {})  # version 2 promoted
    await asyncio.sleep(0.02)  # past refresh_s (0.01 in this kernel)
    stale = await models.resolve(TENANT)  # answered at once with what is known
    assert stale is not None and stale.version.version == 1
    await models.refreshed()
    fresh = await models.resolve(TENANT)
    assert fresh is not None and fresh.version.version == 2
