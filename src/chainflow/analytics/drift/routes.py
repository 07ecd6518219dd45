"""``GET /api/v1/analytics/drift``: the caller's tenant's live trades of a strategy against
its backtest over the same period (``drift.service`` says what each side is)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from chainflow.analytics.drift.schemas import DriftOut, drift_out
from chainflow.analytics.drift.service import DriftService
from chainflow.core.auth import Permission, Principal
from chainflow.gateway.api import require_permission

Reader = Annotated[Principal, Depends(require_permission(Permission.TENANT_READ))]
Moment = datetime | int


def moment_ms(value: Moment) -> int:
    """Return epoch milliseconds of an ISO-8601 time or of epoch milliseconds."""
    return value if isinstance(value, int) else int(value.timestamp() * 1000)


def build_drift_router(*, service: DriftService) -> APIRouter:
    """Return the drift route, to mount under ``/api/v1``."""
    router = APIRouter(prefix="/analytics", tags=["analytics"])

    @router.get(
        "/drift",
        summary="A strategy's live paper result against its backtest over the same period",
        description="`strategy` is the model (`name@version`) whose signals opened the live "
        "trades; `from`/`to` are ISO-8601 times or epoch ms; `symbols` (comma-separated) "
        "defaults to the symbols the live trades traded; `timeframe` to the model's.",
        response_model=DriftOut,
    )
    async def get_drift(
        principal: Reader,
        strategy: str,
        start: Annotated[Moment, Query(alias="from")],
        end: Annotated[Moment, Query(alias="to")],
        symbols: str = "",
        timeframe: str | None = None,
    ) -> DriftOut:
        report = await service.drift(
            principal.tenant_id,
            strategy,
            moment_ms(start),
            moment_ms(end),
            symbols=symbols.split(",") if symbols else (),
            timeframe=timeframe,
        )
        return drift_out(report)

    return router
