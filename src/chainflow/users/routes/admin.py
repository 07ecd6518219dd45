"""Routes of ``/api/v1/admin``: platform administration, for superadmins only.

A superadmin acts on tenants and users named in the path, so these routes open a
``system=True`` unit of work; ``require_superadmin`` admits nobody else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from chainflow.core.auth import Principal, Tier
from chainflow.gateway.api import require_superadmin
from chainflow.storage.relational import Database
from chainflow.users.repository import TenantListing
from chainflow.users.schemas import LimitOverridesPut, TenantOut, TierPut, VerificationTokenOut
from chainflow.users.service import UsersService
from chainflow.users.service.admin import TenantSummary

Superadmin = Annotated[Principal, Depends(require_superadmin)]
MAX_TENANTS_PAGE = 500


class TenantListItem(BaseModel):
    tenant_id: str
    name: str
    tier: Tier
    created_at: datetime
    user_count: int
    subscription_status: str | None = Field(description="null: never subscribed")
    subscription_plan: str | None


class TenantsPage(BaseModel):
    items: list[TenantListItem] = Field(description="oldest tenant first")
    next_offset: int | None = Field(description="the offset of the next page; null on the last")


def _list_item(listing: TenantListing) -> TenantListItem:
    tenant = listing.tenant
    return TenantListItem(
        tenant_id=tenant.id,
        name=tenant.name,
        tier=Tier(tenant.tier),
        created_at=tenant.created_at,
        user_count=listing.user_count,
        subscription_status=listing.subscription_status,
        subscription_plan=listing.subscription_plan,
    )


def _tenant_out(summary: TenantSummary) -> TenantOut:
    return TenantOut(
        tenant_id=summary.tenant_id,
        name=summary.name,
        tier=summary.tier,
        limit_overrides=summary.limit_overrides,
        limits=summary.limits.to_dict(),
    )


def build_admin_router(
    service: UsersService, database: Database, *, reveal_verification_token: bool = True
) -> APIRouter:
    """Return the ``/admin`` routes.

    ``reveal_verification_token`` is false in ``prod``: a fresh verification token then
    goes to the user by e-mail only (the notification hub sends it) and the answer is 202
    ``{"sent_by": "email"}``.
    """
    router = APIRouter(prefix="/admin", tags=["admin"])

    @router.get("/tenants", summary="Every tenant with its tier, user count and subscription")
    async def list_tenants(
        _principal: Superadmin,
        limit: Annotated[int, Query(ge=1, le=MAX_TENANTS_PAGE)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> TenantsPage:
        async with database.unit_of_work(system=True, read_only=True) as uow:
            found = await service.admin.list_tenants(uow, limit=limit + 1, offset=offset)
        more = len(found) > limit
        return TenantsPage(
            items=[_list_item(t) for t in found[:limit]],
            next_offset=offset + limit if more else None,
        )

    @router.get("/tenants/{tenant_id}", summary="A tenant's tier, overrides and limits")
    async def get_tenant(tenant_id: str, _principal: Superadmin) -> TenantOut:
        async with database.unit_of_work(system=True, read_only=True) as uow:
            summary = await service.admin.get_tenant(uow, tenant_id)
        return _tenant_out(summary)

    @router.put(
        "/tenants/{tenant_id}/tier",
        summary="Move a tenant to another tier; takes effect on its next request",
    )
    async def update_tenant_tier(tenant_id: str, body: TierPut, principal: Superadmin) -> TenantOut:
        async with database.unit_of_work(system=True) as uow:
            summary = await service.admin.change_tier(uow, principal.user_id, tenant_id, body.tier)
        return _tenant_out(summary)

    @router.put(
        "/tenants/{tenant_id}/limits",
        summary="Replace a tenant's limit overrides ({} restores the tier's limits)",
    )
    async def update_tenant_limits(
        tenant_id: str, body: LimitOverridesPut, _principal: Superadmin
    ) -> TenantOut:
        async with database.unit_of_work(system=True) as uow:
            summary = await service.admin.set_limit_overrides(uow, tenant_id, body.overrides)
        return _tenant_out(summary)

    @router.post(
        "/users/{user_id}/verification-token",
        status_code=status.HTTP_201_CREATED,
        response_model=VerificationTokenOut,
        summary="Issue a fresh e-mail verification token: shown in dev and test, "
        "e-mailed to the user in prod (202)",
        responses={202: {"description": "prod: the token was e-mailed to the user, not shown"}},
    )
    async def create_verification_token(
        user_id: str, _principal: Superadmin
    ) -> VerificationTokenOut | JSONResponse:
        async with database.unit_of_work(system=True) as uow:
            issued = await service.admin.issue_verification_token(uow, user_id)
        if not reveal_verification_token:  # published after commit: the hub e-mails it
            body = {
                "user_id": user_id,
                "sent_by": "email",
                "expires_at": issued.expires_at.isoformat(),
            }
            return JSONResponse(status_code=status.HTTP_202_ACCEPTED, content=body)
        return VerificationTokenOut(
            user_id=user_id, token=issued.token, expires_at=issued.expires_at
        )

    return router
