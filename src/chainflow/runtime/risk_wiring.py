"""Build the risk service from the kernel: accounts from the paper desk, limits over the bus."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chainflow.risk.portfolio import PortfolioSnapshot, PortfolioSource
from chainflow.risk.routes import build_risk_router
from chainflow.risk.service import EmptyPortfolioSource, RiskService
from chainflow.runtime.component import ServiceComponent
from chainflow.runtime.remote import BusRiskSettings

if TYPE_CHECKING:
    from chainflow.runtime.kernel import Kernel

# The trading service's attribute holding its paper desk (``paper_desk``, or ``desk``).
DESK_ATTRIBUTES = ("paper_desk", "desk")


class TradingDeskSource:
    """Read accounts from the trading service's paper desk in this process.

    The desk is looked up on each call, so a desk the trading service makes at start-up is
    found; until there is one, every tenant gets ``fallback``'s flat account.
    """

    def __init__(self, trading: Any, fallback: PortfolioSource) -> None:
        self._trading = trading
        self._fallback = fallback

    async def portfolio(self, tenant_id: str) -> PortfolioSnapshot:
        """Return the tenant's paper account, or the fallback's when there is no desk."""
        for name in DESK_ATTRIBUTES:
            desk = getattr(self._trading, name, None)
            if desk is not None and callable(getattr(desk, "portfolio", None)):
                snapshot: PortfolioSnapshot = await desk.portfolio(tenant_id)
                return snapshot
        return await self._fallback.portfolio(tenant_id)


def portfolio_source(kernel: Kernel) -> PortfolioSource:
    """Return the paper desk's accounts when trading runs here, else a flat account."""
    flat = EmptyPortfolioSource(kernel.settings.trading.paper_equity, kernel.clock)
    if kernel.trading is None:
        return flat
    return TradingDeskSource(kernel.trading, flat)


def build_risk_component(kernel: Kernel) -> ServiceComponent:
    """Build ``RiskService`` (``kernel.risk``) and its router."""
    infra = kernel.infra
    service = RiskService(
        source=portfolio_source(kernel),
        store=infra.timeseries,
        settings_source=BusRiskSettings(infra.bus, kernel.clock),  # the users service's
        clock=kernel.clock,
    )
    kernel.risk = service
    return ServiceComponent(name="risk", router=build_risk_router(service=service))
