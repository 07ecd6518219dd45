"""``GET /api/v1/analytics/*``: the caller's tenant's trading analytics, from the rollups.

Every route needs ``tenant:read`` (a JWT of any member, or an API key with the ``read``
scope) and answers for the caller's tenant only: no route takes a tenant id.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from chainflow.analytics.schemas import (
    BreakdownOut,
    BreakdownRowOut,
    EquityOut,
    EquityPointOut,
    LatencyOut,
    PeriodReturnOut,
    RatiosOut,
    RebuildOut,
    ReturnsOut,
    WindowRatiosOut,
)
from chainflow.analytics.service import DEFAULT_WINDOWS, AnalyticsService
from chainflow.core.auth import Permission, Principal
from chainflow.gateway.api import require_permission

Reader = Annotated[Principal, Depends(require_permission(Permission.TENANT_READ))]
Manager = Annotated[Principal, Depends(require_permission(Permission.TENANT_MANAGE))]
Dimension = Literal["symbol", "model", "regime", "session", "reason"]


def build_analytics_router(*, service: AnalyticsService) -> APIRouter:
    """Return the router of the analytics service, to mount under ``/api/v1``."""
    router = APIRouter(prefix="/analytics", tags=["analytics"])

    @router.get(
        "/equity",
        summary="Closed-trade equity and drawdown at the end of each trading day",
        response_model=EquityOut,
    )
    async def get_equity(principal: Reader) -> EquityOut:
        points = await service.equity(principal.tenant_id)
        balance = service.starting_balance(principal.tenant_id)
        return EquityOut(
            starting_balance=balance,
            final_equity=points[-1].equity if points else balance,
            max_drawdown_pct=max((p.drawdown_pct for p in points), default=0.0),
            items=[EquityPointOut.model_validate(p) for p in points],
        )

    @router.get(
        "/returns",
        summary="Realized P&L and return per UTC day, ISO week or calendar month",
        response_model=ReturnsOut,
    )
    async def get_returns(
        principal: Reader, period: Literal["day", "week", "month"] = "day"
    ) -> ReturnsOut:
        items = await service.returns(principal.tenant_id, period)
        return ReturnsOut(period=period, items=[PeriodReturnOut.model_validate(i) for i in items])

    @router.get(
        "/ratios",
        summary="Sharpe, Sortino and Calmar over trailing windows of days",
        description="`window`: comma-separated day counts or `all` (default "
        f"`{DEFAULT_WINDOWS}`). Each window ends today (UTC) and says how many daily "
        "observations and trades it rests on; `small_sample` flags too few.",
        response_model=RatiosOut,
    )
    async def get_ratios(principal: Reader, window: str = DEFAULT_WINDOWS) -> RatiosOut:
        items = await service.ratios(principal.tenant_id, window)
        return RatiosOut(items=[WindowRatiosOut.model_validate(i) for i in items])

    @router.get(
        "/breakdown",
        summary="Hit rate and realized P&L by symbol, model, regime, session or reason",
        response_model=BreakdownOut,
    )
    async def get_breakdown(
        principal: Reader, by: Annotated[Dimension, Query()] = "symbol"
    ) -> BreakdownOut:
        rows = await service.breakdown(principal.tenant_id, by)
        items = [
            BreakdownRowOut(
                key=key,
                trades=figures.trades,
                wins=figures.wins,
                hit_rate=figures.hit_rate,
                pnl=figures.pnl,
                gross_profit=figures.gross_profit,
                gross_loss=figures.gross_loss,
                profit_factor=figures.profit_factor,
            )
            for key, figures in rows
        ]
        return BreakdownOut(by=by, items=items)

    @router.get(
        "/latency",
        summary="Tick-to-signal latency distribution of the per-tick signal frames",
        response_model=LatencyOut,
    )
    async def get_latency(principal: Reader) -> LatencyOut:
        return LatencyOut.model_validate(service.latency.summary(principal.tenant_id))

    @router.post(
        "/rollups/rebuild",
        summary="Recompute the tenant's rollups from its raw trade rows",
        response_model=RebuildOut,
    )
    async def rebuild_rollups(principal: Manager) -> RebuildOut:
        return RebuildOut(trades=await service.rebuild_rollups(principal.tenant_id))

    return router
