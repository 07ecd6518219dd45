"""Prometheus metrics of the HTTP edge, on a registry owned by the app (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """Request count and latency per route template, plus in-flight requests."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "chainflow_http_requests_total",
            "HTTP requests by method, route template and status code.",
            ("method", "route", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "chainflow_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "chainflow_http_requests_in_flight",
            "HTTP requests being served now.",
            registry=registry,
        )
        self.dependency_up = Gauge(
            "chainflow_dependency_up",
            "1 when a dependency answered its last readiness check, else 0.",
            ("name", "backend"),
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
