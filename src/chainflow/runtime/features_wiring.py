"""Build the features service from the kernel's infrastructure."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from chainflow.features.routes import build_features_router
from chainflow.features.service import FeaturesService
from chainflow.runtime.component import ServiceComponent
from chainflow.runtime.hub_wiring import replica_membership
from chainflow.runtime.metrics import counter_families

if TYPE_CHECKING:
    from chainflow.runtime.kernel import Kernel

_COUNTERS = {
    "bars": "Bars consumed by the features service.",
    "vectors": "Feature vectors stored and published.",
    "rebuilds": "Pipelines rebuilt from stored bars (warm start, an older bar revised).",
    "redone_bars": "Last bars applied again (revised by a late tick, or redelivered).",
    "deferred_revisions": "Older bars revised, rebuilt together a moment later.",
    "replayed_bars": "Stored bars replayed by rebuilds.",
    "regime_changes": "Regime changes published.",
    "correlation_updates": "Live correlation matrices published.",
    "correlation_failures": "Live correlation updates that failed (logged; vectors unaffected).",
    "rejected_messages": "Bus messages that were not a published bar.",
    "rejected_bars": "Bars with inconsistent prices (not 0 < low <= close <= high), skipped.",
}


class FeaturesStatsCollector(Collector):
    """Expose the features service's counters at scrape time."""

    def __init__(self, service: FeaturesService) -> None:
        self._service = service

    def collect(self) -> Iterator[Any]:
        yield from counter_families("features", asdict(self._service.stats), _COUNTERS)
        yield GaugeMetricFamily(
            "chainflow_features_warming",
            "Terminals' symbol lists whose pipelines are being built from stored bars.",
            value=float(self._service.warming),
        )


def build_features_component(kernel: Kernel) -> ServiceComponent:
    infra = kernel.infra
    settings = kernel.settings.features
    # The replicas of features share the bar partitions.
    membership, leases = replica_membership(kernel)
    service = FeaturesService(
        bus=infra.bus,
        store=infra.timeseries,
        clock=kernel.clock,
        settings=settings,
        membership=membership,
        cpu_shares=kernel.cpu_shares,
    )
    kernel.metrics_registry.register(FeaturesStatsCollector(service))
    router = build_features_router(
        store=infra.timeseries,
        clock=kernel.clock,
        feature_set=service.feature_set,
        max_symbols=settings.correlation_max_symbols,
    )

    async def stop() -> None:
        await service.stop()
        await leases.close()

    return ServiceComponent(
        name="features",
        router=router,
        on_start=service.start,
        on_stop=stop,
        parts={"features": service},
    )
