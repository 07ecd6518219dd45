"""What the bridge publishes, and the topic builders (tokens escaped: ``EURUSD.a`` is safe)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from chainflow.core.market import Timeframe
from chainflow.core.messages import Event, topic


def ticks_topic(tenant_id: str, symbol: str) -> str:
    """Return ``bridge.ticks.<tenant>.<symbol>``: batches of accepted ticks."""
    return topic("bridge", "ticks", tokens=(tenant_id, symbol))


def bars_topic(tenant_id: str, symbol: str, timeframe: Timeframe) -> str:
    """Return ``bridge.bars.<tenant>.<symbol>.<tf>``: closed (and revised) bars."""
    return topic("bridge", "bars", tokens=(tenant_id, symbol, timeframe.value))


def all_bars() -> str:
    """Return the wildcard subject of every tenant's bars, every symbol and timeframe."""
    return topic("bridge", "bars") + ".>"


def all_ticks_of_tenant(tenant_id: str) -> str:
    """Return the wildcard subject of every symbol's ticks of one tenant."""
    return topic("bridge", "ticks", tokens=(tenant_id,)) + ".*"


@dataclass(frozen=True, slots=True)
class TicksAccepted(Event):
    """Ticks of one symbol durably stored, in arrival order; ``out_of_order`` per tick."""

    tenant_id: str
    symbol: str
    ts_recv_ms: int
    ticks: tuple[tuple[int, float, float, float, bool], ...]  # (ts, bid, ask, volume, late)


def aliases_changed_topic(tenant_id: str) -> str:
    """Return ``bridge.aliases.changed.<tenant>``: a tenant's alias table was replaced."""
    return topic("bridge", "aliases", "changed", tokens=(tenant_id,))


def all_aliases_changed() -> str:
    return topic("bridge", "aliases", "changed") + ".*"


@dataclass(frozen=True, slots=True)
class BarPublished(Event):
    """A bar closed (``revised=False``) or a late tick changed a closed bar (``revised=True``).

    Published on ``bars_topic`` after the bar is stored. ``spread_mean`` is the mean ask-bid
    spread of the bar's ticks, ``None`` when unknown (a bar without ticks).
    """

    tenant_id: str
    symbol: str
    timeframe: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    tick_count: int
    spread_mean: float | None
    revised: bool = False

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict()).encode()

    @classmethod
    def from_json(cls, data: bytes) -> BarPublished:
        """Parse a published bar; raise ``ValueError`` for anything else."""
        try:
            raw: dict[str, Any] = json.loads(data)
            spread = raw.get("spread_mean")
            bar = cls(
                tenant_id=str(raw["tenant_id"]),
                symbol=str(raw["symbol"]),
                timeframe=Timeframe(raw["timeframe"]).value,
                ts=int(raw["ts"]),
                open=float(raw["open"]),
                high=float(raw["high"]),
                low=float(raw["low"]),
                close=float(raw["close"]),
                volume=float(raw["volume"]),
                tick_count=int(raw.get("tick_count", 0)),
                spread_mean=None if spread is None else float(spread),
                revised=bool(raw.get("revised", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"expected a published bar; received {data[:200]!r}: {exc}") from exc
        if bar.spread_mean is not None and not math.isfinite(bar.spread_mean):
            return replace(bar, spread_mean=None)
        return bar
