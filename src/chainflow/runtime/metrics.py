"""Service metrics read at scrape time from the kernel's backends (no hot-path cost)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


def counter_families(
    prefix: str, stats: Mapping[str, Any], helps: Mapping[str, str]
) -> Iterator[CounterMetricFamily]:
    """One counter ``chainflow_<prefix>_<name>`` per name of ``helps``, read from ``stats``."""
    for name, help_text in helps.items():
        family = CounterMetricFamily(f"chainflow_{prefix}_{name}", help_text)
        family.add_metric([], float(stats[name]))
        yield family


class BackendStatsCollector(Collector):
    """Expose the time-series writer's counters and which services run here."""

    def __init__(
        self,
        *,
        timeseries_stats: Callable[[], dict[str, float] | None],
        running_services: Callable[[], tuple[str, ...]],
        backends: Callable[[], dict[str, str]],
        ingest_stats: Callable[[], dict[str, int]] = dict,
        ticks_by_tier: Callable[[], dict[str, int]] = dict,
        bus_depth: Callable[[], dict[str, int]] = dict,
    ) -> None:
        self._ingest_stats = ingest_stats
        self._ticks_by_tier = ticks_by_tier
        self._bus_depth = bus_depth
        self._timeseries_stats = timeseries_stats
        self._running_services = running_services
        self._backends = backends

    def collect(self) -> Iterator[Any]:
        stats = self._timeseries_stats()
        if stats is not None:
            for name, help_text in (
                ("commits", "Group commits of the time-series writer."),
                ("rows", "Rows committed by the time-series writer."),
                ("commit_seconds", "Seconds spent in time-series commits."),
                ("failed_appends", "Appends whose commit failed."),
            ):
                family = CounterMetricFamily(f"chainflow_timeseries_{name}", help_text)
                family.add_metric([], float(stats.get(name, 0.0)))
                yield family
        services = GaugeMetricFamily(
            "chainflow_service_running",
            "1 for each service running in this process.",
            labels=["service"],
        )
        for service in self._running_services():
            services.add_metric([service], 1.0)
        yield services
        ingest = self._ingest_stats()
        if ingest:
            ticks = CounterMetricFamily(
                "chainflow_bridge_ticks",
                "Ticks received over WS /ws/ticks, by outcome.",
                labels=["outcome"],
            )
            for name, value in sorted(ingest.items()):
                if name.startswith("rejected_"):
                    ticks.add_metric([name.removeprefix("rejected_")], float(value))
            ticks.add_metric(["stored"], float(ingest.get("ticks_stored", 0)))
            ticks.add_metric(["rate_limited"], float(ingest.get("rate_limited", 0)))
            yield ticks
            for name, help_text in (
                ("messages", "Frames received over WS /ws/ticks."),
                ("bars_closed", "Bars closed by ingestion."),
                ("bars_revised", "Closed bars revised by late ticks."),
            ):
                family = CounterMetricFamily(f"chainflow_bridge_{name}", help_text)
                family.add_metric([], float(ingest.get(name, 0)))
                yield family
        by_tier = self._ticks_by_tier()
        if by_tier:
            tiers = CounterMetricFamily(
                "chainflow_bridge_ticks_by_tier",
                "Ticks stored, by the tenant's tier.",
                labels=["tier"],
            )
            for tier, value in sorted(by_tier.items()):
                tiers.add_metric([tier], float(value))
            yield tiers
        depth = self._bus_depth()
        if depth:
            bus = GaugeMetricFamily(
                "chainflow_bus_pending_messages",
                "Messages waiting in this process's bus: live subscriptions' queues and "
                "durable consumers' backlogs.",
                labels=["kind"],
            )
            for kind, value in sorted(depth.items()):
                bus.add_metric([kind], float(value))
            yield bus
        backends = GaugeMetricFamily(
            "chainflow_backend_info",
            "The backend serving each workload.",
            labels=["workload", "backend"],
        )
        for workload, backend in self._backends().items():
            backends.add_metric([workload, backend], 1.0)
        yield backends
