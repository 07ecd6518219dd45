"""What the trading service publishes, and the topic builders (tokens escaped).

- ``signals.<tenant>.<symbol>``: ``SignalIssued`` when a symbol's stable action changes
  (DESIGN.md §4 ``on_change``); the payload is the ``signal`` frame of ``WS /ws/stream``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chainflow.core.messages import Event, topic


def signals_topic(tenant_id: str, symbol: str) -> str:
    return topic("signals", tokens=(tenant_id, symbol))


def risk_events_topic(tenant_id: str) -> str:
    """Return ``trading.risk.<tenant>``: the tenant's circuit breaker tripped (and why)."""
    return topic("trading", "risk", tokens=(tenant_id,))


def connection_topic(tenant_id: str, connection: str) -> str:
    """Return ``trading.connection.<tenant>.<connection>``: frames for one MT5 connection.

    Each message is one or more ``signal`` frames as JSON lines (one frame per line); the
    bridge forwards each line as a text frame on the ``WS /ws/ticks`` connection
    ``connection`` (the tick hot path's answers), without parsing it again.
    """
    return topic("trading", "connection", tokens=(tenant_id, connection))


@dataclass(frozen=True, slots=True)
class SignalIssued(Event):
    """A sized, risk-checked trading signal (DESIGN.md §4 ``signal`` frame).

    ``size`` is in lots (0 for ``hold``); ``stop_loss``/``take_profit`` are prices or None.
    ``seq`` is the seq of the tick that produced it: None while signals come from closed
    bars. ``latency_ms`` is the inference time plus the time to the signal; None for a stored
    signal (listed from the database), which does not keep it.
    """

    symbol: str
    ts: int
    action: str
    confidence: float
    size: float
    stop_loss: float | None
    take_profit: float | None
    model: str
    reasons: list[str]
    seq: int | None = None
    latency_ms: float | None = None
    type: str = "signal"

    def to_wire(self) -> dict[str, Any]:
        """Return the frame with ``type`` first, as DESIGN.md §4 writes it."""
        body = self.to_dict()
        return {"type": body.pop("type"), **body}

    def to_json(self) -> bytes:
        return json.dumps(self.to_wire(), allow_nan=False).encode()
