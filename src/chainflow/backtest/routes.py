"""``/api/v1/backtests``: create asynchronous backtest jobs, read their status and results,
cancel and resume them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from chainflow.backtest.schemas import BacktestJobCreate, BacktestJobPage, BacktestJobRead
from chainflow.backtest.service import BacktestService
from chainflow.core.auth import Permission, Principal
from chainflow.gateway.api import require_permission

Runner = Annotated[Principal, Depends(require_permission(Permission.BACKTEST_RUN))]
Reader = Annotated[Principal, Depends(require_permission(Permission.TENANT_READ))]
STOPPING: dict[int | str, dict[str, Any]] = {
    503: {"description": "This process is shutting down; retry (another one takes the job)"}
}


def build_backtests_router(*, service: BacktestService) -> APIRouter:
    router = APIRouter(prefix="/backtests", tags=["backtests"])

    @router.post(
        "",
        status_code=202,
        summary="Start a backtest, optimization or walk-forward job on the tenant's bars",
        response_model_exclude_none=True,
        responses=STOPPING,
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

    @router.delete(
        "/{job_id}",
        status_code=202,
        summary="Cancel a queued, running or interrupted job (it stops within one backtest)",
        response_model_exclude_none=True,
        responses={200: {"model": BacktestJobRead, "description": "It was already cancelled"}},
    )
    async def delete_backtest(
        principal: Runner, job_id: str, response: Response
    ) -> BacktestJobRead:
        job, cancelled_now = await service.cancel(principal.tenant, job_id)
        if not cancelled_now:
            response.status_code = 200
        return job

    @router.post(
        "/{job_id}/resume",
        status_code=202,
        summary="Run a cancelled or interrupted job again from its checkpoint",
        response_model_exclude_none=True,
        responses=STOPPING,
    )
    async def resume_backtest(principal: Runner, job_id: str) -> BacktestJobRead:
        return await service.resume(principal, job_id)

    return router
