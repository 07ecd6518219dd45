"""``GET /api/v1/signals``: the tenant's issued signals, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from chainflow.core.auth import Permission, Principal
from chainflow.gateway.api import require_permission
from chainflow.trading.service import TradingService

Reader = Annotated[Principal, Depends(require_permission(Permission.SIGNALS_READ))]


def build_signals_router(*, service: TradingService) -> APIRouter:
    router = APIRouter(prefix="/signals", tags=["signals"])

    @router.get("", summary="The tenant's issued signals, newest first")
    async def list_signals(
        principal: Reader,
        symbol: Annotated[str | None, Query(description="e.g. EURUSD; all when absent")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        wanted = symbol.strip().upper() if symbol and symbol.strip() else None
        signals = await service.recent_signals(principal.tenant, symbol=wanted, limit=limit)
        return {"items": [s.to_wire() for s in signals]}

    return router
