"""Routes of ``/api/v1/tenant``: trading settings, members and invitations.

Everything here acts on the caller's own tenant: an id of another tenant's member or
invitation is not found (404), never forbidden, so nothing tells that it exists.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from chainflow.core.auth import Feature, Permission, Principal
from chainflow.gateway.api import require_feature, require_permission
from chainflow.storage.relational import Database
from chainflow.users.api import TradingSettings
from chainflow.users.schemas import (
    InvitationCreate,
    InvitationOut,
    InvitationsOut,
    MemberOut,
    MemberPatch,
    MembersOut,
    TradingSettingsOut,
    TradingSettingsPut,
)
from chainflow.users.service import UsersService
from chainflow.users.service.team import InvitationSummary, Member
from chainflow.users.trading_rules import TradingSettingsUpdate

TenantReader = Annotated[Principal, Depends(require_permission(Permission.TENANT_READ))]
TenantManager = Annotated[Principal, Depends(require_permission(Permission.TENANT_MANAGE))]


def trading_settings_out(settings: TradingSettings) -> TradingSettingsOut:
    return TradingSettingsOut(
        risk_tolerance=settings.risk_tolerance.value,
        max_risk_per_trade_pct=settings.max_risk_per_trade_pct,
        max_daily_loss_pct=settings.max_daily_loss_pct,
        max_drawdown_pct=settings.max_drawdown_pct,
        default_lot_size=settings.default_lot_size,
        allowed_symbols=list(settings.allowed_symbols),
        leverage=settings.leverage,
        is_default=settings.is_default,
    )


def _member_out(member: Member) -> MemberOut:
    return MemberOut.model_validate(member, from_attributes=True)


def _invitation_out(invitation: InvitationSummary) -> InvitationOut:
    return InvitationOut.model_validate(invitation, from_attributes=True)


def build_tenant_router(service: UsersService, database: Database) -> APIRouter:
    """Return the ``/tenant`` routes."""
    router = APIRouter(prefix="/tenant", tags=["tenant"])

    @router.get("/trading-settings", summary="The tenant's trading settings (defaults if unset)")
    async def get_trading_settings(principal: TenantReader) -> TradingSettingsOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            settings = await service.trading_settings.get(uow, principal.tenant)
        return trading_settings_out(settings)

    @router.put(
        "/trading-settings",
        summary="Replace the trading settings; fields left out take the tolerance's defaults",
    )
    async def update_trading_settings(
        body: TradingSettingsPut, principal: TenantManager
    ) -> TradingSettingsOut:
        update = TradingSettingsUpdate(**body.model_dump())
        async with database.unit_of_work(principal.tenant) as uow:
            settings = await service.trading_settings.replace(uow, principal, update)
        return trading_settings_out(settings)

    @router.get("/members", summary="Members of the tenant")
    async def list_members(principal: TenantReader) -> MembersOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            members = await service.team.list_members(uow, principal)
        return MembersOut(items=[_member_out(m) for m in members])

    @router.patch("/members/{user_id}", summary="Change a member's role")
    async def update_member(user_id: str, body: MemberPatch, principal: TenantManager) -> MemberOut:
        async with database.unit_of_work(principal.tenant) as uow:
            member = await service.team.change_role(uow, principal, user_id, body.role)
        return _member_out(member)

    @router.post(
        "/invitations",
        status_code=status.HTTP_201_CREATED,
        dependencies=[Depends(require_feature(Feature.TEAM_MEMBERS))],
        summary="Invite someone into the tenant (the token goes out as an event on the bus)",
    )
    async def create_invitation(body: InvitationCreate, principal: TenantManager) -> InvitationOut:
        async with database.unit_of_work(principal.tenant) as uow:
            invitation = await service.team.invite(uow, principal, body.email, body.role)
        return _invitation_out(invitation)

    @router.get("/invitations", summary="Pending invitations of the tenant")
    async def list_invitations(principal: TenantManager) -> InvitationsOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            invitations = await service.team.list_invitations(uow, principal)
        return InvitationsOut(items=[_invitation_out(i) for i in invitations])

    @router.delete(
        "/invitations/{invitation_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="Withdraw a pending invitation",
    )
    async def delete_invitation(invitation_id: str, principal: TenantManager) -> Response:
        async with database.unit_of_work(principal.tenant) as uow:
            await service.team.revoke_invitation(uow, principal, invitation_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
