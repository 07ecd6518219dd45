"""The tick→signal latency of every answered tick, as a Prometheus histogram.

Each ``signal`` frame's ``latency_ms`` (from the frame's receipt to its answer) is counted in
fixed buckets at almost no cost on the hot path (one bisect per tick event); the trading
collector exports them as ``chainflow_tick_to_signal_seconds`` at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left

BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LatencyHistogram:
    """Counts per bucket (upper bounds ``BUCKETS_S``, then +Inf) and the sum, in seconds."""

    __slots__ = ("counts", "total_s")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS_S) + 1)
        self.total_s = 0.0

    def observe(self, seconds: float, count: int = 1) -> None:
        """Count ``count`` answers that took ``seconds`` each."""
        self.counts[bisect_left(BUCKETS_S, seconds)] += count
        self.total_s += seconds * count

    def cumulative(self) -> list[tuple[str, float]]:
        """Return ``(le, cumulative count)`` pairs, ``+Inf`` last (Prometheus' layout)."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*map(str, BUCKETS_S), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out
