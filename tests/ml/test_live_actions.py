"""Acting on live performance, on the whole embedded kernel with e-mail to a loopback SMTP
server: a served model whose predictions the market keeps contradicting is replaced by the
previous production version, then (when that one fails too) by ``hold``; the owner is
told each time through the notification hub.

The models are ONNX bundles that always answer "up" (p = 0.8); the bars fall steadily, so
every scored prediction is wrong (realized "down"), exactly as live scoring labels them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from chainflow.bridge.bar_table import persist_bars
from chainflow.bridge.bars import AggregatedBar
from chainflow.bridge.events import BarPublished, bars_topic
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.core.settings import MlSettings
from chainflow.features.api import get_feature_set
from chainflow.hub.api import BusMessage
from chainflow.ml.api import ModelRegistration, ModelVersion
from chainflow.ml.events import alerts_topic
from chainflow.ml.registry.fallback_log import FallbackLog
from chainflow.ml.registry.model_registry import local_model_registry
from chainflow.ml.training.performance import LivePerformance, ScoredPrediction
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from tests.fixtures.settings import embedded_settings
from tests.notify.hub import eventually, log_in, notify_settings
from tests.notify.peers.smtp import SmtpServer, smtp_server

TF = Timeframe.M5
LABEL = {"kind": "direction", "horizon": 6, "threshold_atr": 0.5, "atr_period": 14}
BASELINE = 0.4
FALLBACK_AFTER = 8
START_MS = 1_700_000_000_000


def constant_bundle(probabilities: tuple[float, float, float], n_features: int) -> bytes:
    """An ONNX bundle answering ``probabilities`` for every row (volatility 1e-3, momentum
    1), with the serving contract's input and outputs."""
    zeros = numpy_helper.from_array(np.zeros((n_features, 3), np.float32), "w")
    zero_col = numpy_helper.from_array(np.zeros((n_features, 1), np.float32), "w1")
    bias = numpy_helper.from_array(np.array([probabilities], np.float32), "b")
    vol = numpy_helper.from_array(np.array([[1e-3]], np.float32), "v")
    mom = numpy_helper.from_array(np.array([[1.0]], np.float32), "m")
    nodes = [
        helper.make_node("MatMul", ["features", "w"], ["p0"]),
        helper.make_node("Add", ["p0", "b"], ["probabilities"]),
        helper.make_node("MatMul", ["features", "w1"], ["z"]),
        helper.make_node("Add", ["z", "v"], ["volatility"]),
        helper.make_node("Add", ["z", "m"], ["momentum"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, n_features])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3]),
            helper.make_tensor_value_info("volatility", TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info("momentum", TensorProto.FLOAT, [None, 1]),
        ],
        [zeros, zero_col, bias, vol, mom],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


async def register_always_up(
    kernel: Kernel, home: Path, *, promote: bool, feature_stats: dict[str, Any] | None = None
) -> ModelVersion:
    """Register (and force-promote) a platform ``fx-default`` version that always says up,
    with a majority baseline of ``BASELINE`` (and training feature deciles if given)."""
    feature_set = get_feature_set("fx-core@1")
    registration = ModelRegistration(
        name="fx-default",
        family="lightgbm",
        feature_set=feature_set.key,
        feature_set_fingerprint=feature_set.fingerprint,
        label=LABEL,
        symbols=["EURUSD"],
        timeframe=TF.value,
        train_from_ts=START_MS - 10_000_000,
        train_to_ts=START_MS - 1,
        metrics={
            "baselines": {"majority": {"accuracy": BASELINE}},
            "feature_stats": feature_stats or {},
        },
    )
    registry = local_model_registry(home, kernel.clock)
    artifact = constant_bundle((0.1, 0.1, 0.8), len(feature_set.names))
    async with kernel.infra.database.unit_of_work(system=True) as uow:
        version = await registry.register(uow, registration, artifact)
        if promote:
            version = await registry.promote(
                uow, "fx-default", version.version, force=True, reason="test: a constant model"
            )
    return version


def falling_bars(count: int, symbol: str = "EURUSD", seed: int = 3) -> list[AggregatedBar]:
    """M5 bars falling about 0.8 ATR a bar: every 6-bar outcome is "down"."""
    rng = np.random.default_rng(seed)
    bars, close = [], 1.2
    for i in range(count):
        open_ = close
        close = open_ * float(np.exp(-0.0008 + 0.0001 * rng.standard_normal()))
        high, low = max(open_, close) + 0.0001, min(open_, close) - 0.0001
        ts = START_MS + i * 300_000
        volume = float(rng.lognormal(6.0, 0.5))
        bars.append(
            AggregatedBar(
                symbol, TF, ts, open_, high, low, close, volume, 10, 1e-4, 1e-4, 2e-4, ts, ts + 1
            )
        )
    return bars


async def publish_bars(kernel: Kernel, tenant: str, bars: list[AggregatedBar]) -> None:
    await persist_bars(kernel.infra.timeseries, TenantId(tenant), bars)
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
        await kernel.infra.bus.publish(bars_topic(tenant, bar.symbol, TF), event.to_json())


@dataclass
class Owner:
    kernel: Kernel
    http: httpx.AsyncClient
    tenant_id: str
    smtp: SmtpServer
    home: Path


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
async def owner(tmp_path: Path, smtp: SmtpServer) -> AsyncIterator[Owner]:
    """The whole kernel (fallback after ``FALLBACK_AFTER`` scores) and its first user, the
    owner of her tenant, signed in; her sign-up e-mail already read."""
    home = tmp_path / "home"
    settings = embedded_settings(
        home,
        ml=MlSettings(min_scored=5, refresh_s=0.01, fallback_after=FALLBACK_AFTER),
        notify=notify_settings(smtp),
    )
    kernel = Kernel(settings)
    app = create_app(kernel)
    await kernel.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            credentials = {"email": "ana@example.com", "password": "Live-Actions-Tests-2026!"}
            registered = await http.post("/api/v1/auth/register", json=credentials)
            assert registered.status_code == 201, registered.text
            await eventually(lambda: len(smtp.sink.messages) == 1)  # the verification
            smtp.sink.messages.clear()
            await log_in(http, credentials)
            yield Owner(kernel, http, registered.json()["tenant_id"], smtp, home)
    finally:
        await kernel.stop()


async def settle(kernel: Kernel, vectors: int) -> None:
    assert kernel.features is not None and kernel.ml is not None
    for _ in range(6000):
        if kernel.features.stats.vectors >= vectors and kernel.ml.stats.vectors >= vectors:
            await kernel.ml.drain()
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {vectors} vectors; ml saw {kernel.ml.stats.vectors}")


async def collect(kernel: Kernel, subject: str) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []

    async def on(message: BusMessage) -> None:
        received.append(json.loads(message.data))

    await kernel.infra.bus.subscribe(subject, on)
    return received


def subjects(smtp: SmtpServer) -> list[str]:
    return [str(m.message["Subject"]) for m in smtp.sink.messages]


def text_of(smtp: SmtpServer, marker: str) -> str:
    mail = next(m.message for m in smtp.sink.messages if marker in str(m.message["Subject"]))
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


async def publish_until(
    owner: Owner, bars: list[AggregatedBar], alerts: list[dict[str, Any]], falls: int
) -> int:
    """Publish ``bars`` ten at a time until ``falls`` fallbacks were announced; return how
    many bars were published."""
    published = 0
    while published < len(bars):
        chunk = bars[published : published + 10]
        await publish_bars(owner.kernel, owner.tenant_id, chunk)
        published += len(chunk)
        await settle(owner.kernel, published)
        if sum(a["type"] == "model_fallback" for a in alerts) >= falls:
            return published
    raise AssertionError(f"expected {falls} fallbacks; alerts {[a['type'] for a in alerts]}")


class TestFallback:
    async def test_a_contradicted_model_falls_back_to_the_previous_version_then_to_hold(
        self, owner: Owner
    ) -> None:
        kernel, tenant = owner.kernel, owner.tenant_id
        assert kernel.ml is not None
        first = await register_always_up(kernel, owner.home, promote=True)
        second = await register_always_up(kernel, owner.home, promote=True)  # v1 archived
        alerts = await collect(kernel, alerts_topic(tenant))
        bars = falling_bars(400)  # features warm up over 234 bars

        published = await publish_until(owner, bars, alerts, falls=1)

        kinds = [a["type"] for a in alerts]
        assert kinds == ["model_underperforming", "model_fallback"], kinds
        fell = alerts[1]
        assert fell["model"] == second.ref and fell["fallback"] == first.ref
        assert fell["streak"] == FALLBACK_AFTER and fell["hit_rate"] == 0.0
        assert fell["reason"] == "model_underperforming" and fell["by"] == "chainflow live monitor"
        served = await kernel.ml.models.resolve(tenant)
        assert served is not None and served.version.ref == first.ref
        [record] = await FallbackLog(kernel.infra.timeseries).history(tenant, "fx-default")
        assert (record.from_version, record.to_version) == (second.version, first.version)
        assert record.decided_by == "chainflow live monitor" and record.market == "EURUSD"

        await eventually(lambda: any("replaced by" in s for s in subjects(owner.smtp)))
        mail = text_of(owner.smtp, "replaced by")
        assert f"{second.ref} stayed below its baseline for {FALLBACK_AFTER}" in mail
        assert f"served by {first.ref}" in mail
        assert owner.smtp.sink.messages[-1].rcpt_tos == ["ana@example.com"]

        # The version fallen back to says "up" too: the market contradicts it as well.
        await publish_until(owner, bars[published:], alerts, falls=2)

        falls = [a for a in alerts if a["type"] == "model_fallback"]
        assert [(a["model"], a["fallback"]) for a in falls] == [
            (second.ref, first.ref),
            (first.ref, None),
        ]
        assert await kernel.ml.models.resolve(tenant) is None  # hold
        reason = kernel.ml.models.unavailable_reason(tenant)
        assert reason.startswith(f"model_underperforming: {first.ref} stayed below"), reason
        await eventually(lambda: any("signals hold" in s for s in subjects(owner.smtp)))
        assert "your signals are hold" in text_of(owner.smtp, "signals hold")

    async def test_promoting_a_version_ends_the_fallback(self, owner: Owner) -> None:
        kernel, tenant = owner.kernel, owner.tenant_id
        assert kernel.ml is not None
        await register_always_up(kernel, owner.home, promote=True)
        second = await register_always_up(kernel, owner.home, promote=True)
        alerts = await collect(kernel, alerts_topic(tenant))
        await publish_until(owner, falling_bars(400), alerts, falls=1)
        served = await kernel.ml.models.resolve(tenant)
        assert served is not None and served.version.version == 1  # fell back

        third = await register_always_up(kernel, owner.home, promote=True)
        kernel.ml.models.forget(tenant)
        served = await kernel.ml.models.resolve(tenant)
        assert served is not None and served.version.ref == third.ref
        assert kernel.ml.models.fallback_of(tenant) is None
        assert second.version == 2


class TestPolicyOff:
    async def test_without_the_setting_an_underperforming_model_keeps_serving_and_drift_is_told(
        self, tmp_path: Path
    ) -> None:
        settings = embedded_settings(tmp_path / "home", ml=MlSettings(min_scored=5))
        kernel = Kernel(settings, services="hub,storage,bridge,features,ml")
        kernel.build()
        await kernel.start()
        try:
            assert kernel.ml is not None and kernel.settings.ml.fallback_after == 0
            await register_always_up(kernel, tmp_path / "home", promote=True)
            # Trained where RSI was never below 90: the falling market's RSI near 0 drifts.
            stats = {"rsi_14": {"edges": [90.0, 95.0], "fractions": [0.0, 0.5, 0.5]}}
            second = await register_always_up(
                kernel, tmp_path / "home", promote=True, feature_stats=stats
            )
            tenant = "0190a5c0-0000-7000-8000-0000000la001"
            alerts = await collect(kernel, alerts_topic(tenant))
            await publish_bars(kernel, tenant, falling_bars(300))
            await settle(kernel, 300)
            assert [a["type"] for a in alerts] == ["model_underperforming", "model_drifting"]
            drift = alerts[1]
            assert drift["features"] == ["rsi_14"] and drift["max_psi"] > 0.25
            served = await kernel.ml.models.resolve(tenant)
            assert served is not None and served.version.ref == second.ref
        finally:
            await kernel.stop()


class TestPartitionMove:
    async def test_streaks_of_moved_tenants_are_dropped_and_the_others_kept(
        self, owner: Owner
    ) -> None:
        assert owner.kernel.ml is not None
        actions = owner.kernel.ml.actions
        tracker = LivePerformance(window=10, min_scored=1, baseline_accuracy=0.9)
        tracker.add(ScoredPrediction(ts=1, probabilities=(0.1, 0.1, 0.8), realized=0))  # a miss
        moved = ("tenant-a", "fx-default@2", "EURUSD", "M1")
        stayed = ("tenant-b", "fx-default@2", "EURUSD", "M1")
        for _ in range(3):
            actions.replay(moved, tracker)
            actions.replay(stayed, tracker)
        assert (actions.streak(moved), actions.streak(stayed)) == (3, 3)
        # Replayed again from the stored scores when the partition returns: it starts at 0,
        # not at the streak kept from the earlier turn.
        actions.forget(lambda tenant: tenant == "tenant-a")
        assert (actions.streak(moved), actions.streak(stayed)) == (0, 3)
