"""Build the trading service from the kernel: live signals from predictions, and their route."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from chainflow.ml.live.model_cache import ServedModels
from chainflow.ml.registry.fallback_log import FallbackLog
from chainflow.ml.registry.model_registry import model_registry
from chainflow.runtime.component import ServiceComponent
from chainflow.runtime.hub_wiring import replica_membership
from chainflow.runtime.metrics import counter_families
from chainflow.runtime.remote import BusTradingPreferences
from chainflow.trading.routes import build_trading_router
from chainflow.trading.service import TradingService

if TYPE_CHECKING:
    from chainflow.runtime.kernel import Kernel

_COUNTERS = {
    "predictions": "Predictions run through a strategy by the trading service.",
    "signals": "Signals issued (stored and published) on a change of the stable action.",
    "stale_predictions": "Predictions at or before their key's last bar (redeliveries), skipped.",
    "rejected_messages": "Bus messages that were not a usable prediction.",
    "risk_refused": "Signals turned to hold because risk refused the entry.",
}
_TICK_PATH_COUNTERS = {
    "ticks": "Accepted ticks the per-tick path took.",
    "frames": "Signal frames the per-tick path sent.",
    "scored": "Forming bars scored by the model (a key's queued ticks are scored once).",
    "coalesced": "Tick events answered with a later tick's score of their key (under load).",
    "model_calls": "Model runs of the per-tick path: one per model and round, for all its keys.",
    "warming": "Ticks answered while their key's state was being built.",
    "warming_up": "Ticks answered while their key's features were still warming up.",
    "no_model": "Ticks of a tenant without a production model.",
    "rebuilds": "Key states built from the stored bars (new key, restart, revised bar).",
    "bad_messages": "Bus messages the per-tick path could not read.",
    "dropped_events": "Tick events of a partition given up or whose lease was lost.",
}


class TradingStatsCollector(Collector):
    """Expose the trading service's counters at scrape time."""

    def __init__(self, service: TradingService) -> None:
        self._service = service

    def collect(self) -> Iterator[Any]:
        yield from counter_families("trading", asdict(self._service.stats), _COUNTERS)
        tick_path = self._service.tick_path
        yield from counter_families("tick_path", asdict(tick_path.stats), _TICK_PATH_COUNTERS)
        yield GaugeMetricFamily(
            "chainflow_tick_path_building",
            "Keys of the per-tick path whose state is being built from stored bars.",
            value=float(tick_path.building),
        )
        latency = tick_path.latency
        histogram = HistogramMetricFamily(
            "chainflow_tick_to_signal_seconds",
            "Server time from a tick frame's receipt to its signal frame.",
        )
        histogram.add_metric([], latency.cumulative(), sum_value=latency.total_s)
        yield histogram


def build_trading_component(kernel: Kernel, *, ml_models: ServedModels | None) -> ServiceComponent:
    """Build the trading service; ``ml_models`` are the ml service's loaded models when it
    runs in this process."""
    infra = kernel.infra
    # One process: the ml service's loaded models; alone: this process loads its own, and
    # reads the live fallbacks the ml service records (a tenant fallen back to hold holds).
    models = (
        ml_models
        if ml_models is not None
        else ServedModels(
            model_registry(kernel.settings, infra.database, kernel.clock),
            infra.database,
            kernel.clock,
            kernel.settings.ml,
            fallbacks=FallbackLog(infra.timeseries),
        )
    )
    # Over a shared bus (NATS) the replicas of trading share the tick partitions; on the
    # in-process bus this process is the only one and takes every tick as before.
    membership, leases = (None, None)
    if infra.bus.backend != "memory":
        membership, leases = replica_membership(kernel)
    service = TradingService(
        bus=infra.bus,
        database=infra.database,
        store=infra.timeseries,
        clock=kernel.clock,
        settings=kernel.settings.trading,
        preferences=BusTradingPreferences(infra.bus, kernel.clock),  # the users service's
        models=models if kernel.settings.trading.tick_signals else None,
        cpu_shares=kernel.cpu_shares,
        membership=membership,
    )
    kernel.metrics_registry.register(TradingStatsCollector(service))

    async def stop() -> None:
        await service.stop()
        if leases is not None:
            await leases.close()

    return ServiceComponent(
        name="trading",
        router=build_trading_router(service=service),
        on_start=service.start,
        on_stop=stop,
        parts={"trading": service},
    )
