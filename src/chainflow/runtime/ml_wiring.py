"""Build the ml service from the kernel: the registry, live inference, the live fallback
policy, the retrain schedule and their routes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from chainflow.ml.live.service import MlService
from chainflow.ml.registry.model_registry import model_registry
from chainflow.ml.routes.models import build_registry_router
from chainflow.ml.routes.patterns import build_pattern_router
from chainflow.ml.routes.performance import build_performance_router
from chainflow.ml.training.retrain_schedule import RetrainSchedule
from chainflow.runtime.component import ServiceComponent
from chainflow.runtime.hub_wiring import replica_membership
from chainflow.runtime.notify_wiring import UsersDirectory

if TYPE_CHECKING:
    from chainflow.runtime.kernel import Kernel


class MlStatsCollector(Collector):
    """Expose the ml service's counters and each model's live hit rate at scrape time."""

    def __init__(self, service: MlService) -> None:
        self._service = service

    def collect(self) -> Iterator[Any]:
        stats = {
            **asdict(self._service.stats),
            "scored": self._service.scoring.scored,
            "alerts": self._service.scoring.alerts,
            "fallbacks": self._service.actions.fallbacks,
        }
        for name, value in stats.items():
            family = CounterMetricFamily(f"chainflow_ml_{name}", f"ml service: {name}.")
            family.add_metric([], float(value))
            yield family
        hit_rate = GaugeMetricFamily(
            "chainflow_ml_live_hit_rate",
            "Rolling live hit rate of a model on a symbol.",
            labels=["model", "symbol", "timeframe"],
        )
        brier = GaugeMetricFamily(
            "chainflow_ml_live_brier",
            "Rolling live Brier score of a model on a symbol.",
            labels=["model", "symbol", "timeframe"],
        )
        for (_tenant, model, symbol, timeframe), tracker in self._service.scoring.trackers.items():
            if tracker.count:
                hit_rate.add_metric([model, symbol, timeframe], tracker.hit_rate())
                brier.add_metric([model, symbol, timeframe], tracker.brier())
        yield hit_rate
        yield brier


def build_ml_component(kernel: Kernel) -> ServiceComponent:
    # Artifacts live under CHAINFLOW_HOME/models (CHAINFLOW_ML_ARTIFACTS_URL is planned).
    infra = kernel.infra
    registry = model_registry(kernel.settings, kernel.infra.database, kernel.clock)
    # The replicas of ml share the feature vector partitions, as features shares the bars'.
    membership, leases = replica_membership(kernel)
    service = MlService(
        bus=infra.bus,
        store=infra.timeseries,
        database=infra.database,
        registry=registry,
        clock=kernel.clock,
        settings=kernel.settings.ml,
        vectors=infra.vectors,
        membership=membership,
    )
    kernel.metrics_registry.register(MlStatsCollector(service))
    retrain = RetrainSchedule(
        registry=registry,
        database=infra.database,
        store=infra.timeseries,
        bus=infra.bus,
        clock=kernel.clock,
        settings=kernel.settings.ml,
        tenants=service.models.tenants,
        limits=UsersDirectory(infra.database).limits,
        on_promoted=service.models.forget,
    )
    service.retrain = retrain
    router = APIRouter()
    # Before the registry's /models/{name}/{version}, which would take "performance".
    router.include_router(
        build_performance_router(
            registry=registry,
            database=infra.database,
            store=infra.timeseries,
            window=kernel.settings.ml.performance_window,
        )
    )
    router.include_router(
        build_registry_router(
            registry=registry,
            database=infra.database,
            store=infra.timeseries,
            live_window=kernel.settings.ml.performance_window,
        )
    )
    router.include_router(
        build_pattern_router(
            store=infra.timeseries,
            vectors=infra.vectors,
            feature_set_key=kernel.settings.features.feature_set,
        )
    )

    async def start() -> None:
        await service.start()
        retrain.start()

    async def stop() -> None:
        await retrain.stop()
        await service.stop()
        await leases.close()

    return ServiceComponent(
        name="ml", router=router, on_start=start, on_stop=stop, parts={"ml": service}
    )
