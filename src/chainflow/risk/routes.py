"""``GET /api/v1/risk/portfolio`` and ``POST /api/v1/risk/check``: the tenant from the caller.

Both need the ``tenant:read`` permission: a JWT of any member, or an API key with the
``read`` scope. Neither changes anything: the check is a what-if.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from chainflow.core.auth import Permission, Principal
from chainflow.gateway.api import require_permission
from chainflow.risk.schemas import OrderCheckIn, OrderCheckOut, PortfolioRiskOut
from chainflow.risk.service import OrderProposal, RiskService

Reader = Annotated[Principal, Depends(require_permission(Permission.TENANT_READ))]

PORTFOLIO_DESCRIPTION = """\
The tenant's account now: exposure per symbol (signed lots, notional, share of equity) and in
total; one-day VaR and CVaR at 95 % and 99 % by historical, parametric (with the correlation
matrix of the positions' symbols) and seeded Monte Carlo methods, from the stored bars' log
returns (H1 when every symbol has enough bars, else M5; `var.timeframe` and
`var.observations` say which); P&L under every stress scenario; drawdown and daily P&L; every
limit and its use; the circuit breaker. A flat account answers zeros; too few bars answer
`null` figures with the reason."""

CHECK_DESCRIPTION = """\
What-if for a proposed order against the tenant's account and limits now. Without `lots` the
order is sized at the tenant's max risk per trade from `stop_loss`; `entry` defaults to the
latest stored bar close. The answer says whether it is allowed, at what size (possibly resized
down) and why, with its risk, margin and the portfolio's one-day 99 % VaR before and after.
Malformed orders (unknown side, lots <= 0, stop or target on the wrong side) are 422."""


def build_risk_router(*, service: RiskService) -> APIRouter:
    """Return the router of the risk service, to mount under ``/api/v1``."""
    router = APIRouter(prefix="/risk", tags=["risk"])

    @router.get(
        "/portfolio",
        summary="Exposure, VaR/CVaR, stress, drawdown, limits and their use",
        description=PORTFOLIO_DESCRIPTION,
        response_model=PortfolioRiskOut,
    )
    async def get_portfolio_risk(principal: Reader) -> PortfolioRiskOut:
        report = await service.report(principal.tenant_id, principal.tier)
        return PortfolioRiskOut.model_validate(report)

    @router.post(
        "/check",
        summary="Check (and size) a proposed order against the tenant's limits",
        description=CHECK_DESCRIPTION,
        response_model=OrderCheckOut,
    )
    async def check_order(principal: Reader, body: OrderCheckIn) -> OrderCheckOut:
        proposal = OrderProposal(
            symbol=body.symbol,
            side=body.side,
            lots=body.lots,
            entry=body.entry,
            stop_loss=body.stop_loss,
            take_profit=body.take_profit,
        )
        answer = await service.check(principal.tenant_id, principal.tier, proposal)
        return OrderCheckOut.model_validate(answer)

    return router
