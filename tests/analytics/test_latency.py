"""Per-tenant tick→signal latency from the per-tick frames: bounded, exact until full."""

from __future__ import annotations

import orjson
import pytest

from chainflow.analytics.latency import (
    LatencyRecorder,
    frame_latencies,
    tenant_of_connection_subject,
)
from chainflow.trading.api import connection_topic


def frames(*latencies: float) -> bytes:
    lines = [
        orjson.dumps({"type": "signal", "symbol": "EURUSD", "action": "hold", "latency_ms": v})
        for v in latencies
    ]
    return b"\n".join(lines)


class TestFrameLatencies:
    def test_only_signal_frames_with_a_latency_count(self) -> None:
        data = frames(1.5, 2.0) + b'\n{"type":"error","latency_ms":9}\nnot json\n{"type":"signal"}'
        assert list(frame_latencies(data)) == [1.5, 2.0]

    def test_tenant_comes_from_the_escaped_subject(self) -> None:
        subject = connection_topic("tenant.with.dots", "conn-1")
        assert tenant_of_connection_subject(subject) == "tenant.with.dots"
        assert tenant_of_connection_subject("signals.a.b") is None


class TestLatencyRecorder:
    def test_summary_is_exact_below_the_reservoir_size(self) -> None:
        recorder = LatencyRecorder(reservoir=16)
        assert recorder.record_message(connection_topic("a", "c"), frames(1, 2, 3, 4, 10)) == 5
        summary = recorder.summary("a")
        assert summary["count"] == 5 and summary["sampled"] == 5
        assert summary["mean_ms"] == 4.0 and summary["min_ms"] == 1 and summary["max_ms"] == 10
        assert summary["p50_ms"] == 3.0
        assert summary["p90_ms"] == pytest.approx(4 + 0.6 * 6)
        histogram = {b["le_ms"]: b["count"] for b in summary["histogram"]}  # type: ignore[union-attr]
        assert histogram[1] == 1 and histogram[2] == 1 and histogram[5] == 2 and histogram[10] == 1

    def test_memory_stays_bounded_and_counts_stay_exact(self) -> None:
        recorder = LatencyRecorder(reservoir=32, seed=1)
        for i in range(10_000):
            recorder.record("a", float(i % 100))
        summary = recorder.summary("a")
        assert summary["count"] == 10_000 and summary["sampled"] == 32
        assert summary["mean_ms"] == pytest.approx(49.5)
        assert sum(b["count"] for b in summary["histogram"]) == 10_000  # type: ignore[union-attr]

    def test_tenants_are_kept_apart(self) -> None:
        recorder = LatencyRecorder()
        recorder.record_message(connection_topic("a", "c"), frames(5.0))
        assert recorder.summary("b")["count"] == 0
        assert recorder.summary("b")["p99_ms"] is None
