"""Which signals the model scored: a tally of a terminal's ``signal`` frames by kind.

A frame is scored by the model when it names a model and its first reason is not one the
hot path gives instead of scoring (``trading.tick.scoring``: the key's state being built,
features warming up, no forming bar, the circuit breaker; no production model answers with
an empty ``model``). Scored frames are counted by action (buy, sell or the model's hold),
the others by the head of their reason. ``counted`` passes a WebSocket's frames through
(to ``tick_load.clients.read_frames``) and tallies them on the way.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

NOT_SCORED = ("warming", "features warming up", "no forming bar", "circuit breaker tripped")
_REASON_HEAD = re.compile(r"[:(—]")


@dataclass(frozen=True, slots=True)
class SignalKind:
    """A frame's kind: scored by the model (``label`` its action) or a hold with a reason."""

    scored: bool
    label: str


def signal_kind(frame: dict[str, Any]) -> SignalKind:
    reasons = frame.get("reasons") or [""]
    first = str(reasons[0])
    if frame.get("model") and not first.startswith(NOT_SCORED):
        return SignalKind(True, str(frame.get("action")))
    head = _REASON_HEAD.split(first, maxsplit=1)[0].strip()
    return SignalKind(False, head or "no reason")


@dataclass(slots=True)
class SignalTally:
    """One terminal's signals: measured ones by kind, the symbols the model has answered."""

    scored: Counter[str] = field(default_factory=Counter)
    held: Counter[str] = field(default_factory=Counter)
    scored_symbols: set[str] = field(default_factory=set)

    def see(self, frame: dict[str, Any], measured: bool) -> None:
        kind = signal_kind(frame)
        if kind.scored:
            self.scored_symbols.add(str(frame.get("symbol")))
        if measured:
            (self.scored if kind.scored else self.held)[kind.label] += 1


async def counted(ws: Any, tally: SignalTally, measured: set[int]) -> AsyncIterator[Any]:
    """Yield ``ws``'s frames; tally each ``signal`` (measured when its seq is in ``measured``)."""
    async for raw in ws:
        frame = orjson.loads(raw)
        if frame.get("type") == "signal":
            tally.see(frame, frame.get("seq") in measured)
        yield raw


def signal_figures(tallies: list[SignalTally]) -> dict[str, Any]:
    """The measured signals of ``tallies`` by kind, for the JSON."""
    scored: Counter[str] = Counter()
    held: Counter[str] = Counter()
    for tally in tallies:
        scored.update(tally.scored)
        held.update(tally.held)
    total = sum(scored.values()) + sum(held.values())
    return {
        "measured_signals": total,
        "scored_by_model": sum(scored.values()),
        "scored_by_model_pct": round(100 * sum(scored.values()) / total, 2) if total else None,
        "scored_by_action": dict(scored.most_common()),
        "holds_with_reason": dict(held.most_common()),
    }
