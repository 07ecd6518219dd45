"""Figures of a run: percentiles, the per-second series, totals, and a small SVG plot."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from tick_load.clients import Connection, Sample

SERIES_QS = (50, 99, 99.9)


def percentiles(values: list[float], qs: tuple[float, ...]) -> dict[str, float | None]:
    """``values`` sorted ascending -> ``{"p50": .., "p99_9": .., "max": ..}`` (nearest rank)."""
    out: dict[str, float | None] = {}
    for q in qs:
        key = "p" + f"{q:g}".replace(".", "_") if q % 1 else f"p{q:g}"
        out[key] = (
            round(values[min(len(values) - 1, int(q / 100 * len(values)))], 2) if values else None
        )
    out["max"] = round(values[-1], 2) if values else None
    return out


def per_second(samples: Iterable[Sample], t0: float) -> dict[str, dict[str, Any]]:
    """Second index since ``t0`` (by send time) -> count and client latency percentiles."""
    buckets: dict[int, list[float]] = {}
    for s in samples:
        buckets.setdefault(max(0, int(s.sent - t0)), []).append(s.client_ms)
    out: dict[str, dict[str, Any]] = {}
    for second in sorted(buckets):
        values = sorted(buckets[second])
        out[str(second)] = {"count": len(values), **percentiles(values, SERIES_QS)}
    return out


def latency_figures(samples: Sequence[Sample], t0: float) -> dict[str, Any]:
    """Client latency p50/p99/p99.9/max, server ``latency_ms`` p50/p99, the per-second series."""
    client = sorted(s.client_ms for s in samples)
    server = sorted(s.server_ms for s in samples if s.server_ms is not None)
    return {
        "measured_ticks": len(samples),
        "client_latency_ms": percentiles(client, SERIES_QS),
        "server_latency_ms": percentiles(server, (50, 99)),
        "per_second": per_second(samples, t0),
    }


def totals(conns: Sequence[Connection]) -> dict[str, Any]:
    """Ticks sent/acked/lost, signals missing, error frames and hold reasons of ``conns``."""
    sent, acked = sum(c.seq for c in conns), sum(c.acked for c in conns)
    measured = sum(len(c.measured) for c in conns)
    received = sum(c.signals_measured for c in conns)
    errors: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for c in conns:
        errors.update(c.errors)
        reasons.update(c.hold_reasons)
    return {
        "ticks_sent": sent,
        "ticks_acked": acked,
        "ticks_lost": sent - acked,
        "signals_missing": measured - received,
        "error_frames": dict(errors),
        "hold_reasons": dict(reasons.most_common(5)),
    }


def write_svg(
    path: Path,
    series: dict[str, dict[str, Any]],
    title: str,
    markers: Sequence[tuple[float, str]] = (),
) -> None:
    """Plot p50/p99/max per second (log y, ms) with vertical ``markers`` (second, label)."""
    width, height, left, right, top, bottom = 760, 320, 60, 20, 30, 40
    seconds = sorted(int(k) for k in series)
    if not seconds:
        raise ValueError("expected a per-second series with at least one second")
    peak = max(float(series[str(s)]["max"] or 0.1) for s in seconds)
    lo, hi = -1, max(1, math.ceil(math.log10(max(peak, 0.1))))
    span_x = max(1, seconds[-1] + 1)

    def x(second: float) -> float:
        return left + (width - left - right) * second / span_x

    def y(ms: float) -> float:
        frac = (math.log10(max(ms, 10.0**lo)) - lo) / (hi - lo)
        return height - bottom - (height - top - bottom) * frac

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="13">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" '
        f'y2="{height - bottom}" stroke="black"/>',
        f'<text x="{width - right}" y="{height - 8}" text-anchor="end">second of the run</text>',
    ]
    for power in range(lo, hi + 1):
        ms = 10.0**power
        parts.append(
            f'<line x1="{left}" y1="{y(ms):.1f}" x2="{width - right}" y2="{y(ms):.1f}" '
            f'stroke="#ddd"/><text x="{left - 4}" y="{y(ms) + 4:.1f}" '
            f'text-anchor="end">{ms:g} ms</text>'
        )
    step = max(1, span_x // 10)
    for second in range(0, span_x + 1, step):
        parts.append(
            f'<text x="{x(second):.1f}" y="{height - bottom + 14}" '
            f'text-anchor="middle">{second}</text>'
        )
    for second, label in markers:
        parts.append(
            f'<line x1="{x(second):.1f}" y1="{top}" x2="{x(second):.1f}" '
            f'y2="{height - bottom}" stroke="#888" stroke-dasharray="4 3"/>'
            f'<text x="{x(second) + 3:.1f}" y="{top + 10}" fill="#555">{escape(label)}</text>'
        )
    for key, colour, offset in (
        ("p50", "#1f77b4", 0),
        ("p99", "#ff7f0e", 1),
        ("max", "#d62728", 2),
    ):
        points = " ".join(
            f"{x(s + 0.5):.1f},{y(float(series[str(s)][key] or 0)):.1f}" for s in seconds
        )
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}"/>')
        legend_x = width - right - 150 + 50 * offset
        parts.append(f'<text x="{legend_x}" y="18" fill="{colour}">{key}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")
