"""The typed answer of the tick hot path: a key's signal and the ``signal`` frames it sends.

DESIGN.md §4: each accepted tick of an ``every_tick`` connection (or each change on an
``on_change`` one) is answered on ``WS /ws/ticks`` with
``{"type":"signal","symbol","action","confidence","size","stop_loss","take_profit","model",
"reasons","ts","seq","latency_ms"}``. ``TickSignal`` is the scored body (one per key and
round), ``SignalFrame`` one frame of it for one tick; orjson writes the dataclasses' fields
in this order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson


@dataclass(frozen=True, slots=True)
class TickSignal:
    """What the hot path decided for a key at a tick (sized and risk-checked)."""

    symbol: str
    action: str
    confidence: float
    size: float
    stop_loss: float | None
    take_profit: float | None
    model: str
    reasons: tuple[str, ...]

    @classmethod
    def hold(cls, symbol: str, reason: str, model: str) -> TickSignal:
        """A ``hold`` that says why the key could not be scored."""
        return cls(symbol, "hold", 0.0, 0.0, None, None, model, (reason,))


@dataclass(slots=True)
class SignalFrame:
    """One ``signal`` frame: the key's signal for the tick ``seq`` at ``ts``."""

    type: str = field(default="signal", init=False)
    symbol: str
    action: str
    confidence: float
    size: float
    stop_loss: float | None
    take_profit: float | None
    model: str
    reasons: tuple[str, ...]
    ts: int
    seq: int | None
    latency_ms: float = 0.0

    @classmethod
    def of(cls, signal: TickSignal, ts: int, seq: int | None) -> SignalFrame:
        return cls(
            signal.symbol,
            signal.action,
            signal.confidence,
            signal.size,
            signal.stop_loss,
            signal.take_profit,
            signal.model,
            signal.reasons,
            ts,
            seq,
        )


def encode_frames(frames: list[SignalFrame]) -> bytes:
    """The frames as one bus message: one JSON object per line."""
    return b"\n".join(orjson.dumps(frame, option=orjson.OPT_SERIALIZE_NUMPY) for frame in frames)
