"""``/api/v1/backtests``: create asynchronous backtest jobs, read their status and results."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from chainflow.backtest.schemas import BacktestJobCreate, BacktestJobPage, BacktestJobRead
from chainflow.backtest.service import BacktestService
from chainflow.core.auth import Permission, Principal
from chainflow.gateway.api import require_permission

Runner = Annotated[Principal, Depends(require_permission(Permission.BACKTEST_RUN))]
Reader = Annotated[Principal, Depends(require_permission(Permission.TENANT_READ))]


def build_backtests_router(*, service: BacktestService) -> APIRouter:
    router = APIRouter(prefix="/backtests", tags=["backtests"])

    @router.post(
        "",
        status_code=202,
        summary="Start a backtest, optimization or walk-forward job on the tenant's bars",
        response_model_exclude_none=True,
    )
    async def create_backtest(principal: Runner, body: BacktestJobCreate) -> BacktestJobRead:
        return await service.submit(principal, body)

    @router.get("", summary="The tenant's backtest jobs, newest first (without results)")
    async def list_backtests(
        principal: Reader, limit: Annotated[int, Query(ge=1, le=200)] = 50
    ) -> BacktestJobPage:
        return BacktestJobPage(items=await service.list(principal.tenant, limit=limit))

    @router.get("/{job_id}", summary="A backtest job's status, progress and result")
    async def get_backtest(principal: Reader, job_id: str) -> BacktestJobRead:
        return await service.get(principal.tenant, job_id)

    return router
