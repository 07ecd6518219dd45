"""The retrain schedule on the embedded kernel and a simulated clock: a tenant's own
production model is retrained from its stored bars once ``CHAINFLOW_ML_RETRAIN_EVERY`` has
passed, with the production version's training settings, and the new version is promoted
only when the promotion gate lets it.

Two markets of stored bars: one whose log price reverts towards its 20-bar mean (a real,
modest edge: LightGBM beats both baselines, p < 0.01, without the leak check's alarm), and
a random walk (nothing to learn: the gate refuses the new version).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainflow.bridge.bar_table import persist_bars
from chainflow.bridge.bars import AggregatedBar
from chainflow.core.auth import TIER_LIMITS, Tier, TierLimits
from chainflow.core.clock import SimulatedClock
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.core.settings import MlSettings
from chainflow.core.tenancy import TenantContext
from chainflow.features.api import get_feature_set
from chainflow.hub.api import BusMessage
from chainflow.ml.api import ModelRegistration, ModelStage, ModelVersion
from chainflow.ml.events import alerts_topic
from chainflow.ml.registry.model_registry import ModelRegistry, local_model_registry
from chainflow.ml.training.retrain_schedule import RetrainSchedule, training_config
from chainflow.runtime.kernel import Kernel
from tests.fixtures.settings import embedded_settings
from tests.ml.test_live_actions import LABEL, constant_bundle
from tests.notify.hub import eventually

TF = Timeframe.M5
BARS = 5000
START_MS = 1_700_000_000_000
DAY_MS = 86_400_000
NOW_MS = START_MS + BARS * 300_000 + DAY_MS  # a day after the last stored bar
SERVICES = "hub,storage,bridge,features,ml"
EVALUATION = {"folds": 3, "min_train_fraction": 0.4, "embargo": 0, "seed": 7, "calibrate": None}


def reverting_bars(kappa: float, *, seed: int = 5) -> list[AggregatedBar]:
    """M5 bars whose log price moves ``kappa`` of the way back to its 20-bar mean each bar
    (plus noise); ``kappa=0`` is a random walk."""
    rng = np.random.default_rng(seed)
    sigma = 4e-4
    x = np.empty(BARS)
    x[0] = np.log(1.1)
    for i in range(1, BARS):
        mean = x[max(0, i - 20) : i].mean()
        x[i] = x[i - 1] + kappa * (mean - x[i - 1]) + sigma * rng.standard_normal()
    close = np.exp(x)
    open_ = np.concatenate([[close[0]], close[:-1]])
    wicks = np.abs(rng.standard_normal((2, BARS))) * sigma * close * 0.5
    high = np.maximum(open_, close) + wicks[0]
    low = np.minimum(open_, close) - wicks[1]
    volume = np.round(rng.lognormal(6.0, 0.6, BARS))
    return [
        AggregatedBar(
            "EURUSD",
            TF,
            START_MS + i * 300_000,
            float(open_[i]),
            float(high[i]),
            float(low[i]),
            float(close[i]),
            float(volume[i]),
            10,
            1e-4,
            1e-4,
            2e-4,
            START_MS + i * 300_000,
            START_MS + i * 300_000 + 1,
        )
        for i in range(BARS)
    ]


async def enterprise(_tenant_id: str) -> TierLimits:
    return TIER_LIMITS[Tier.ENTERPRISE]


def constant_fx_default() -> tuple[ModelRegistration, bytes]:
    """An ``fx-default`` registration with the training settings a retrain reuses, and its
    constant bundle."""
    feature_set = get_feature_set("fx-core@1")
    registration = ModelRegistration(
        name="fx-default",
        family="lightgbm",
        feature_set=feature_set.key,
        feature_set_fingerprint=feature_set.fingerprint,
        label=LABEL,
        symbols=["EURUSD"],
        timeframe=TF.value,
        train_from_ts=START_MS,
        train_to_ts=START_MS + DAY_MS,
        metrics={"evaluation": EVALUATION},
    )
    return registration, constant_bundle((0.3, 0.4, 0.3), len(feature_set.names))


class Setup:
    def __init__(self, kernel: Kernel, clock: SimulatedClock, home: Path) -> None:
        self.kernel = kernel
        self.clock = clock
        self.registry: ModelRegistry = local_model_registry(home, clock)
        self.tenants: list[str] = []
        self.schedule = RetrainSchedule(
            registry=self.registry,
            database=kernel.infra.database,
            store=kernel.infra.timeseries,
            bus=kernel.infra.bus,
            clock=clock,
            settings=kernel.settings.ml,
            tenants=self.served,
            limits=enterprise,
        )

    def served(self) -> Sequence[str]:
        return self.tenants

    async def own_production(self, tenant_id: str) -> ModelVersion:
        """Register and promote the tenant's own ``fx-default`` (a constant bundle with the
        training settings the retrain must reuse), and store its market's bars."""
        tenant = TenantContext(tenant_id=TenantId(tenant_id))
        registration, artifact = constant_fx_default()
        async with self.kernel.infra.database.unit_of_work(tenant) as uow:
            version = await self.registry.register(
                uow, registration, artifact, owner=tenant, limits=TIER_LIMITS[Tier.ENTERPRISE]
            )
            version = await self.registry.promote(
                uow, "fx-default", 1, owner=tenant, force=True, reason="test: first version"
            )
        self.tenants.append(tenant_id)
        return version

    async def versions(self, tenant_id: str) -> list[ModelVersion]:
        tenant = TenantContext(tenant_id=TenantId(tenant_id))
        async with self.kernel.infra.database.unit_of_work(tenant, read_only=True) as uow:
            return await self.registry.versions(uow, "fx-default", owner=tenant)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    clock = SimulatedClock(NOW_MS)
    settings = embedded_settings(tmp_path / "home", ml=MlSettings(retrain_every="1d"))
    kernel = Kernel(settings, services=SERVICES, clock=clock)
    kernel.build()
    await kernel.start()
    try:
        yield Setup(kernel, clock, tmp_path / "home")
    finally:
        await kernel.stop()


async def collect(kernel: Kernel, subject: str) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []

    async def on(message: BusMessage) -> None:
        received.append(json.loads(message.data))

    await kernel.infra.bus.subscribe(subject, on)
    return received


class TestRetrainSchedule:
    async def test_a_passing_retrain_is_promoted_once_the_period_has_passed(
        self, setup: Setup
    ) -> None:
        tenant = "0190a5c0-0000-7000-8000-0000000rt001"
        first = await setup.own_production(tenant)
        await persist_bars(setup.kernel.infra.timeseries, TenantId(tenant), reverting_bars(0.09))
        alerts = await collect(setup.kernel, alerts_topic(tenant))

        setup.clock.advance_ms(DAY_MS - 60_000)
        assert await setup.schedule.run_due() == []  # promoted less than a day ago

        setup.clock.advance_ms(60_000)
        [outcome] = await setup.schedule.run_due()

        assert outcome.promoted and outcome.bars == BARS
        assert outcome.sentence.startswith("beats both baselines"), outcome.sentence
        old, new = await setup.versions(tenant)
        assert (old.stage, new.stage) == (ModelStage.ARCHIVED, ModelStage.PRODUCTION)
        assert new.promotion_override is None  # through the gate, never forced
        assert new.created_by == "chainflow retrain schedule"
        assert new.metrics["source"]["trained_at_ms"] == setup.clock.now_ms()
        assert training_config(new) == training_config(first)  # the same settings
        assert new.label == first.label and new.tenant_id == tenant
        await eventually(lambda: len(alerts) == 1)
        [alert] = alerts
        assert alert["type"] == "model_retrained" and alert["promoted"] is True
        assert (alert["model"], alert["previous"]) == (new.ref, first.ref)

        setup.clock.advance_ms(DAY_MS - 1)
        assert await setup.schedule.run_due() == []  # the new version is not a day old

    async def test_a_failing_retrain_stays_a_candidate_and_is_announced(self, setup: Setup) -> None:
        tenant = "0190a5c0-0000-7000-8000-0000000rt002"
        first = await setup.own_production(tenant)
        await persist_bars(setup.kernel.infra.timeseries, TenantId(tenant), reverting_bars(0.0))
        alerts = await collect(setup.kernel, alerts_topic(tenant))

        setup.clock.advance_ms(DAY_MS)
        [outcome] = await setup.schedule.run_due()

        assert not outcome.promoted
        assert outcome.sentence.startswith("does not beat"), outcome.sentence
        old, new = await setup.versions(tenant)
        assert old.ref == first.ref and old.stage == ModelStage.PRODUCTION
        assert new.stage == ModelStage.CANDIDATE
        await eventually(lambda: len(alerts) == 1)
        [alert] = alerts
        assert alert["type"] == "model_retrained" and alert["promoted"] is False
        assert alert["sentence"] == outcome.sentence

        setup.clock.advance_ms(DAY_MS // 2)
        assert await setup.schedule.run_due() == []  # a refused retrain also waits a period

    async def test_a_platform_model_is_not_retrained_on_a_tenants_bars(self, setup: Setup) -> None:
        registration, artifact = constant_fx_default()
        async with setup.kernel.infra.database.unit_of_work(system=True) as uow:
            await setup.registry.register(uow, registration, artifact)
            await setup.registry.promote(uow, "fx-default", 1, force=True, reason="test")
        setup.tenants.append("0190a5c0-0000-7000-8000-0000000rt003")
        setup.clock.advance_ms(7 * DAY_MS)
        assert await setup.schedule.run_due() == []


class TestSettings:
    def test_durations_parse_and_off_is_the_default(self) -> None:
        assert MlSettings().retrain_every_s is None and MlSettings().fallback_after == 0
        assert MlSettings(retrain_every="12h").retrain_every_s == 43_200
        assert MlSettings(retrain_every="7d").retrain_every_s == 604_800
        assert MlSettings(retrain_every="90m").retrain_every_s == 5_400
        assert MlSettings(retrain_every="off").retrain_every_s is None

    @pytest.mark.parametrize("bad", ["soon", "10s", "-1h", "h", "nan"])
    def test_a_bad_duration_is_refused_with_the_accepted_forms(self, bad: str) -> None:
        with pytest.raises(ValueError, match="expected a duration of at least a minute"):
            MlSettings(retrain_every=bad)
