"""Build the risk service: accounts from the paper desk, limits over the bus."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chainflow.risk.portfolio import PortfolioSource
from chainflow.risk.routes import build_risk_router
from chainflow.risk.service import EmptyPortfolioSource, RiskService
from chainflow.runtime.component import ServiceComponent
from chainflow.runtime.remote import BusRiskSettings

if TYPE_CHECKING:
    from chainflow.runtime.kernel import Kernel
    from chainflow.trading.service import TradingService


def portfolio_source(kernel: Kernel, trading: TradingService | None) -> PortfolioSource:
    """Return the paper desk's accounts when trading runs here, else a flat account."""
    if trading is None:
        return EmptyPortfolioSource(kernel.settings.trading.paper_equity, kernel.clock)
    return trading  # the paper book of the tenant, wherever its partition runs


def build_risk_component(kernel: Kernel, *, trading: TradingService | None) -> ServiceComponent:
    """Build ``RiskService`` and its router; ``trading`` is the trading service when it
    runs in this process."""
    infra = kernel.infra
    service = RiskService(
        source=portfolio_source(kernel, trading),
        store=infra.timeseries,
        settings_source=BusRiskSettings(infra.bus, kernel.clock),  # the users service's
        clock=kernel.clock,
    )
    return ServiceComponent(
        name="risk", router=build_risk_router(service=service), parts={"risk": service}
    )
