"""Scheduled retraining: each tenant's own production model, from its stored bars, gated.

``CHAINFLOW_ML_RETRAIN_EVERY`` (a duration such as ``12h`` or ``7d``; off by default) is
FreqAI's ``live_retrain_hours``: a model older than that is retrained. Every
``CHAINFLOW_ML_RETRAIN_CHECK_S`` the schedule looks at the tenants this process serves
(``ServedModels.tenants``); for a tenant whose production version of ``CHAINFLOW_ML_MODEL``
is its own custom model, a retrain is due when the clock is ``every`` past the later of
its promotion and the last scheduled retrain of that name (recorded in the candidate's
``metrics.source.trained_at_ms``, so a restart does not retrain at once). Then:

1. the tenant's stored bars of the version's symbol and timeframe (the newest
   ``MAX_STORED_BARS``, as ``chainflow train --email``);
2. the production version's training settings: family, label, folds, embargo, seed,
   calibration (from its recorded ``evaluation``);
3. ``chainflow.ml.training.steps`` and ``train_on_dataset``, in a worker thread;
4. the new version is registered as a candidate, then promoted only if the promotion gate
   (``chainflow.ml.registry.promotion_gate``) lets it: it is never forced. A refused version stays
   a candidate and the production version keeps serving.

Either way ``ModelRetrained`` is published on ``ml.alerts.<tenant>`` and the owners are
told. A platform model is not retrained here: every tenant shares it, and training it on
one tenant's bars would carry that tenant's market into the others' model (the operator
retrains it with ``chainflow train``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chainflow.bridge.api import read_bars
from chainflow.core.auth import TierLimits
from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId
from chainflow.core.logging import get_logger
from chainflow.core.market import Timeframe
from chainflow.core.periodic import Periodic
from chainflow.core.settings import MlSettings
from chainflow.core.tenancy import TenantContext
from chainflow.hub.api import EventBus
from chainflow.ml.errors import ModelNotFoundError, ModelPromotionRefusedError
from chainflow.ml.events import ModelRetrained, alerts_topic
from chainflow.ml.registry.fallback_log import promoted_ms
from chainflow.ml.registry.model_registry import ModelRegistry
from chainflow.ml.registry.promotion_gate import verdict_of
from chainflow.ml.registry.types import ModelVersion
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.relational import Database

if TYPE_CHECKING:
    from chainflow.ml.training.labels import LabelSpec
    from chainflow.ml.training.run import TrainingConfig

log = get_logger("chainflow.ml.retrain_schedule")

CREATED_BY = "chainflow retrain schedule"
SOURCE_KIND = "scheduled_retrain"
LimitsOf = Callable[[str], Awaitable[TierLimits | None]]


@dataclass(frozen=True, slots=True)
class RetrainOutcome:
    """What one scheduled retrain did."""

    tenant_id: str
    previous: ModelVersion
    version: ModelVersion
    promoted: bool
    sentence: str
    bars: int


class RetrainSchedule:
    """Retrains the served tenants' own production models when they are due."""

    def __init__(
        self,
        *,
        registry: ModelRegistry,
        database: Database,
        store: TimeSeriesStore,
        bus: EventBus,
        clock: Clock,
        settings: MlSettings,
        tenants: Callable[[], Sequence[str]],
        limits: LimitsOf,
        on_promoted: Callable[[str], None] | None = None,
    ) -> None:
        self._registry = registry
        self._database = database
        self._store = store
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._tenants = tenants
        self._limits = limits
        self._on_promoted = on_promoted
        self.every_s = settings.retrain_every_s
        self._periodic: Periodic | None = None
        self._running = asyncio.Lock()

    def start(self) -> None:
        """Start looking every ``retrain_check_s`` (nothing when retraining is off)."""
        if self.every_s is not None and self._periodic is None:
            self._periodic = Periodic("ml.retrain", self._settings.retrain_check_s, self.run_due)
            self._periodic.start()

    async def stop(self) -> None:
        if self._periodic is not None:
            await self._periodic.stop()
            self._periodic = None

    async def run_due(self) -> list[RetrainOutcome]:
        """Retrain every served tenant whose model is due; return what was done."""
        if self.every_s is None:
            return []
        outcomes = []
        async with self._running:  # one round at a time, whatever the tick rate
            for tenant_id in self._tenants():
                try:
                    outcome = await self.retrain_if_due(tenant_id)
                except Exception as e:  # one tenant's failure does not stop the others
                    log.error("ml_retrain_failed", tenant_id=tenant_id, error=repr(e))
                    continue
                if outcome is not None:
                    outcomes.append(outcome)
        return outcomes

    async def retrain_if_due(self, tenant_id: str) -> RetrainOutcome | None:
        """Retrain the tenant's own production model if it is due (None: nothing done)."""
        tenant = TenantContext(tenant_id=TenantId(tenant_id))
        production, last_ms = await self._due_state(tenant)
        if production is None or self.every_s is None:
            return None
        if self._clock.now_ms() - last_ms < self.every_s * 1000:
            return None
        return await self.retrain(tenant, production)

    async def retrain(self, tenant: TenantContext, production: ModelVersion) -> RetrainOutcome:
        """Train ``production``'s successor on the tenant's stored bars; promote it if the
        gate lets it; publish and return what happened."""
        from chainflow.ml.training.run import train_on_dataset
        from chainflow.ml.training.steps import (
            MAX_STORED_BARS,
            register_trained,
            registration_for,
            training_bars,
            training_dataset,
        )

        now_ms = self._clock.now_ms()
        symbol, timeframe = production.symbols[0], Timeframe(production.timeframe)
        bars = await read_bars(
            self._store, tenant.tenant_id, symbol, timeframe, end_ms=now_ms, count=MAX_STORED_BARS
        )
        config = training_config(production)
        dataset = training_dataset(
            training_bars(bars), label_spec(production), config, symbol=symbol, timeframe=timeframe
        )
        result = await asyncio.to_thread(train_on_dataset, dataset, config)
        source = {
            "kind": SOURCE_KIND,
            "tenant_id": tenant.tenant_id,
            "trained_at_ms": now_ms,
            "from_version": production.version,
            "bars": len(bars),
        }
        registration = registration_for(
            result, dataset, name=production.name, source=source, created_by=CREATED_BY
        )
        version = await register_trained(
            self._database,
            self._registry,
            registration,
            result.onnx,
            promote=False,
            owner=tenant,
            limits=await self._limits(tenant.tenant_id),
        )
        promoted = await self._promote(tenant, version)
        outcome = RetrainOutcome(
            tenant_id=tenant.tenant_id,
            previous=production,
            version=promoted or version,
            promoted=promoted is not None,
            sentence=verdict_of(version.metrics).sentence,
            bars=len(bars),
        )
        await self._publish(outcome, now_ms)
        if promoted is not None and self._on_promoted is not None:
            self._on_promoted(tenant.tenant_id)
        return outcome

    async def _due_state(self, tenant: TenantContext) -> tuple[ModelVersion | None, int]:
        """Return the tenant's own production version and when it was last (re)trained."""
        name = self._settings.model
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            try:
                production = await self._registry.production(uow, name, viewer=tenant)
            except ModelNotFoundError:
                return None, 0
            if production is None or production.tenant_id != tenant.tenant_id:
                return None, 0  # none, or the platform's: not retrained per tenant
            versions = await self._registry.versions(uow, name, owner=tenant)
        retrained = [_trained_at_ms(v) for v in versions]
        return production, max([promoted_ms(production), *retrained])

    async def _promote(self, tenant: TenantContext, version: ModelVersion) -> ModelVersion | None:
        """Promote ``version`` through the gate (never forced); None when it refuses."""
        try:
            async with self._database.unit_of_work(tenant) as uow:
                return await self._registry.promote(
                    uow, version.name, version.version, owner=tenant, by=CREATED_BY
                )
        except ModelPromotionRefusedError as e:
            log.info("ml_retrain_kept_candidate", model=version.ref, reason=e.message)
            return None

    async def _publish(self, outcome: RetrainOutcome, now_ms: int) -> None:
        event = ModelRetrained(
            tenant_id=outcome.tenant_id,
            model=outcome.version.ref,
            previous=outcome.previous.ref,
            promoted=outcome.promoted,
            sentence=outcome.sentence,
            symbol=outcome.version.symbols[0],
            timeframe=outcome.version.timeframe,
            bars=outcome.bars,
            ts=now_ms,
        )
        await self._bus.publish(alerts_topic(outcome.tenant_id), event.to_json())
        log.info(
            "ml_retrained",
            tenant_id=outcome.tenant_id,
            model=outcome.version.ref,
            promoted=outcome.promoted,
        )


def training_config(version: ModelVersion) -> TrainingConfig:
    """Return the training settings ``version`` was trained with (defaults where unknown)."""
    from chainflow.ml.training.run import TrainingConfig  # lazy: LightGBM, ONNX

    evaluation: dict[str, Any] = version.metrics.get("evaluation") or {}
    defaults = TrainingConfig(family=version.family)
    return TrainingConfig(
        family=version.family,
        n_folds=int(evaluation.get("folds") or defaults.n_folds),
        min_train_fraction=float(
            evaluation.get("min_train_fraction") or defaults.min_train_fraction
        ),
        embargo=evaluation.get("embargo") or defaults.embargo,
        seed=int(evaluation.get("seed") or defaults.seed),
        calibrate=evaluation.get("calibrate") or None,
    )


def label_spec(version: ModelVersion) -> LabelSpec:
    """Return the ``LabelSpec`` ``version`` was trained with."""
    from chainflow.ml.training.labels import LabelSpec

    known = ("kind", "horizon", "threshold_atr", "atr_period")
    return LabelSpec(**{k: v for k, v in version.label.items() if k in known})


def _trained_at_ms(version: ModelVersion) -> int:
    source = version.metrics.get("source") or {}
    if not isinstance(source, dict) or source.get("kind") != SOURCE_KIND:
        return 0
    value = source.get("trained_at_ms")
    return int(value) if isinstance(value, int | float) else 0
