"""What the bridge publishes, and the topic builders (tokens escaped: ``EURUSD.a`` is safe)."""

from __future__ import annotations

from dataclasses import dataclass

from chainflow.core.market import Timeframe
from chainflow.core.messages import Event, topic


def ticks_topic(tenant_id: str, symbol: str) -> str:
    """Return ``bridge.ticks.<tenant>.<symbol>``: batches of accepted ticks."""
    return topic("bridge", "ticks", tokens=(tenant_id, symbol))


def bars_topic(tenant_id: str, symbol: str, timeframe: Timeframe) -> str:
    """Return ``bridge.bars.<tenant>.<symbol>.<tf>``: closed (and revised) bars."""
    return topic("bridge", "bars", tokens=(tenant_id, symbol, timeframe.value))


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
