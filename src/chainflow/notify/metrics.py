"""Prometheus metrics of the hub: deliveries and failures per channel, queue depth, latency."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["NotifyMetrics"]

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0, 300.0, 3600.0)


class NotifyMetrics:
    """The hub's metrics, registered on the process's registry (one per kernel)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.delivered = Counter(
            "chainflow_notify_delivered",
            "Notifications delivered, by channel.",
            ["channel"],
            registry=registry,
        )
        self.failed = Counter(
            "chainflow_notify_failed",
            "Failed delivery attempts, by channel and outcome (retry, failed, dead).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "chainflow_notify_queue_depth",
            "Outbox rows waiting, by state (pending, sending).",
            ["state"],
            registry=registry,
        )
        self.latency = Histogram(
            "chainflow_notify_event_to_delivery_seconds",
            "Seconds from the event to its delivery, by channel.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
