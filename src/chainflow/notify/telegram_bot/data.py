"""What the bot may read of a tenant, through the lower services' public APIs only.

``TenantData`` is the bot's port; ``TradingData`` implements it over ``trading.api``'s
``TradingApi`` (issued signals, the paper account) and ``ml.api``'s ``ServedModelSource``
(the production model). Connected MT5 terminals are not exposed by any public API yet, so
``connected_terminals`` answers ``None`` ("not available") until the bridge publishes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chainflow.core.tenancy import TenantContext
from chainflow.ml.api import ServedModelSource
from chainflow.trading.api import SignalIssued, TradingApi

__all__ = ["AccountView", "TenantData", "TradingData"]


@dataclass(frozen=True, slots=True)
class AccountView:
    """The paper account as the bot shows it."""

    currency: str
    balance: float
    equity: float
    day_start_equity: float
    starting_balance: float
    halted: str | None
    positions: Sequence[dict[str, Any]]
    trades: Sequence[dict[str, Any]]
    equity_curve: Sequence[tuple[int, float]]


class TenantData(Protocol):
    async def signals(
        self, tenant: TenantContext, *, symbol: str | None, limit: int
    ) -> Sequence[SignalIssued]:
        """Return the tenant's newest signals, newest first."""
        ...

    async def account(self, tenant: TenantContext) -> AccountView:
        """Return the tenant's paper account."""
        ...

    async def served_model(self, tenant: TenantContext) -> str | None:
        """Return ``name@version`` of the model serving the tenant, if any."""
        ...

    async def connected_terminals(self, tenant: TenantContext) -> int | None:
        """Return how many MT5 terminals are connected, or None when not known."""
        ...


class TradingData:
    """``TenantData`` over the trading service and the ml service's served models."""

    def __init__(self, trading: TradingApi, models: ServedModelSource | None = None) -> None:
        self._trading = trading
        self._models = models

    async def signals(
        self, tenant: TenantContext, *, symbol: str | None, limit: int
    ) -> Sequence[SignalIssued]:
        return await self._trading.recent_signals(tenant, symbol=symbol, limit=limit)

    async def account(self, tenant: TenantContext) -> AccountView:
        tenant_id = str(tenant.tenant_id)
        accounts = await self._trading.paper_accounts_of(tenant_id)
        view = accounts.account_view(tenant_id, curve_points=10_080)
        account = view["account"]
        return AccountView(
            currency=str(account.get("account_currency", "")),
            balance=float(account["balance"]),
            equity=float(account["equity"]),
            day_start_equity=float(account["day_start_equity"]),
            starting_balance=float(account["starting_balance"]),
            halted=account.get("halted"),
            positions=view["positions"],
            trades=view["trades"],
            equity_curve=[(int(p["ts"]), float(p["equity"])) for p in view["equity_curve"]],
        )

    async def served_model(self, tenant: TenantContext) -> str | None:
        if self._models is None:
            return None
        served = await self._models.resolve(str(tenant.tenant_id))
        return None if served is None else served.version.ref

    async def connected_terminals(self, tenant: TenantContext) -> int | None:
        return None
