"""``/api/v1/admin/analytics/*``: business intelligence, for platform superadmins only.

Every route answers 401 without credentials and 403 to anyone but a superadmin
(``require_superadmin``), tenant owners and admins included. Answers come from the last
platform snapshot (``bi.service``); ``POST /refresh`` recomputes it now.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from chainflow.analytics.bi.months import parse_month
from chainflow.analytics.bi.schemas import (
    CohortsOut,
    ConversionOut,
    MrrOut,
    OverviewOut,
    RefreshOut,
    UsageOut,
    cohorts_out,
    conversion_out,
    mrr_out,
    overview_out,
    usage_out,
)
from chainflow.analytics.bi.service import BiService
from chainflow.analytics.errors import InvalidMonthError
from chainflow.core.auth import Principal
from chainflow.gateway.api import require_superadmin

Superadmin = Annotated[Principal, Depends(require_superadmin)]


def build_bi_router(*, service: BiService) -> APIRouter:
    """Return the superadmin analytics routes, to mount under ``/api/v1``."""
    router = APIRouter(prefix="/admin/analytics", tags=["admin"])

    @router.get(
        "/overview",
        summary="MRR/ARR, tenant movements, cohorts, conversion and usage per tier",
        response_model=OverviewOut,
    )
    async def get_overview(_principal: Superadmin) -> OverviewOut:
        return overview_out(await service.snapshot())

    @router.get(
        "/mrr", summary="MRR and ARR now and at the end of each month", response_model=MrrOut
    )
    async def get_mrr(_principal: Superadmin) -> MrrOut:
        return mrr_out(await service.snapshot())

    @router.get(
        "/cohorts",
        summary="Tenants by signup month and how many were active in each month after",
        response_model=CohortsOut,
    )
    async def get_cohorts(_principal: Superadmin) -> CohortsOut:
        return cohorts_out(await service.snapshot())

    @router.get(
        "/conversion", summary="The Free→Pro→Enterprise funnel", response_model=ConversionOut
    )
    async def get_conversion(_principal: Superadmin) -> ConversionOut:
        return conversion_out(await service.snapshot())

    @router.get(
        "/usage",
        summary="Ticks, messages, API calls and MT5 terminals per tier in a month",
        response_model=UsageOut,
    )
    async def get_usage(_principal: Superadmin, month: str | None = None) -> UsageOut:
        snapshot = await service.snapshot()
        wanted = snapshot.last_month if month is None else parse_month(month)
        figures = snapshot.month(wanted) if wanted is not None else None
        if figures is None:
            raise InvalidMonthError(
                f"month must be YYYY-MM within the last {len(snapshot.months)} months; "
                f"received {str(month)[:20]!r}"
            )
        return usage_out(snapshot, figures)

    @router.post(
        "/refresh", summary="Recompute the platform snapshot now", response_model=RefreshOut
    )
    async def refresh_snapshot(_principal: Superadmin) -> RefreshOut:
        snapshot = await service.refresh()
        return RefreshOut(as_of=snapshot.as_of_ms, computed_in_ms=snapshot.computed_in_ms)

    return router
