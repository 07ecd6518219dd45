"""``/api/v1/analytics/reports``: the caller's report preference and send-now.

Every route acts for the calling user of the caller's tenant (``tenant:read``); none takes
a tenant or user id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from chainflow.analytics.reports.periods import ReportKind
from chainflow.analytics.reports.schemas import (
    ReportPreferencesIn,
    ReportPreferencesOut,
    SentReportOut,
)
from chainflow.analytics.reports.service import ReportService
from chainflow.core.auth import Permission, Principal
from chainflow.gateway.api import require_permission

Reader = Annotated[Principal, Depends(require_permission(Permission.TENANT_READ))]


def build_reports_router(*, service: ReportService) -> APIRouter:
    """Return the reports router, to mount under ``/api/v1``."""
    router = APIRouter(prefix="/analytics/reports", tags=["analytics"])

    @router.get(
        "/preferences",
        summary="Your scheduled performance report: off, daily or weekly",
        response_model=ReportPreferencesOut,
    )
    async def get_preferences(principal: Reader) -> ReportPreferencesOut:
        found = await service.preferences(principal.tenant_id, principal.user_id)
        return ReportPreferencesOut.model_validate(found)

    @router.put(
        "/preferences",
        summary="Set your scheduled performance report",
        response_model=ReportPreferencesOut,
    )
    async def put_preferences(principal: Reader, body: ReportPreferencesIn) -> ReportPreferencesOut:
        saved = await service.set_preferences(principal.tenant_id, principal.user_id, body.period)
        return ReportPreferencesOut.model_validate(saved)

    @router.post(
        "/send-now",
        status_code=202,
        summary="E-mail yourself the report of the last complete day or week now",
        response_model=SentReportOut,
        responses={503: {"description": "No e-mail delivery in this process (no SMTP configured)"}},
    )
    async def send_now(
        principal: Reader, period: Annotated[ReportKind, Query()] = "daily"
    ) -> SentReportOut:
        sent = await service.send_now(principal.tenant_id, principal.user_id, period)
        return SentReportOut(
            period=sent.period.kind,
            label=sent.period.label,
            start=sent.period.start,
            end=sent.period.end,
            queued=sent.queued,
        )

    return router
