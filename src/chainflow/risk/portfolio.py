"""What risk reads about a tenant's account: a snapshot from a ``PortfolioSource``.

The trading engine (same layer; risk must not import it)
implements ``PortfolioSource`` with its paper accounts; the runtime hands it to the risk
service. Positions are ``risk.Position`` (signed lots), marks are current prices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from chainflow.risk.instruments import Position


@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    """One tenant's account now, in the account currency.

    ``day_start_equity`` is the equity at the start of the trading day (UTC) and
    ``peak_equity`` the highest equity seen: the circuit breaker's references.
    ``breaker`` is the reason the tenant's circuit breaker is tripped, else None.
    """

    tenant_id: str
    account_currency: str
    balance: float
    equity: float
    starting_balance: float
    peak_equity: float
    day_start_equity: float
    positions: tuple[Position, ...] = ()
    prices: Mapping[str, float] = field(default_factory=dict)
    breaker: str | None = None
    ts: int | None = None


class PortfolioSource(Protocol):
    """Where the risk service reads accounts (the trading engine's paper desk)."""

    async def portfolio(self, tenant_id: str) -> PortfolioSnapshot:
        """Return the tenant's account now (an empty account when it never traded)."""
        ...
