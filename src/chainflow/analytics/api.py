"""Public interface of the analytics service: the closed-trade record it aggregates and the
source that feeds it (the runtime adapts the trading service's paper desk to it), and what
the export service takes. The services and routers are the runtime's to build (it imports
them from ``analytics.service``, ``analytics.exports.service``, ... and their ``routes``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from chainflow.analytics.exports.catalog import export_datasets
from chainflow.analytics.exports.datasets import ExportQuery, ExportSource
from chainflow.analytics.live.events import dashboard_request_topic, dashboard_topic


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One closed (part of a) paper position with the tags of the signal that opened it.

    ``seq`` is the trade's index in the tenant's account (0, 1, 2, ... in closing order):
    the cursor of incremental rollups. ``reasons`` are reason templates (numbers as ``#``).
    """

    seq: int
    symbol: str
    side: str
    lots: float
    entry_ts: int
    exit_ts: int
    entry_price: float
    exit_price: float
    pnl: float
    model: str
    regime: str
    reasons: tuple[str, ...]
    exit_reason: str = "order"


class TradeSource(Protocol):
    """Where closed trades come from (the paper desk in one process)."""

    def tenants(self) -> Sequence[str]:
        """Return the tenants that may have closed trades."""
        ...

    def closed_trades(self, tenant_id: str, from_seq: int) -> Sequence[ClosedTrade]:
        """Return the tenant's closed trades with ``seq >= from_seq``, in seq order."""
        ...

    def starting_balance(self, tenant_id: str) -> float:
        """Return the balance the tenant's account started with."""
        ...


class NoTrades:
    """A ``TradeSource`` without trades (trading runs in another process)."""

    def __init__(self, starting_balance: float) -> None:
        self._starting_balance = starting_balance

    def tenants(self) -> Sequence[str]:
        return ()

    def closed_trades(self, tenant_id: str, from_seq: int) -> Sequence[ClosedTrade]:
        return ()

    def starting_balance(self, tenant_id: str) -> float:
        return self._starting_balance


__all__ = [
    "ClosedTrade",
    "ExportQuery",
    "ExportSource",
    "NoTrades",
    "TradeSource",
    "dashboard_request_topic",
    "dashboard_topic",
    "export_datasets",
]
