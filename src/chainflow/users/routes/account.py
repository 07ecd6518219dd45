"""Routes of the signed-in user: ``/api/v1/users/me`` and ``/api/v1/api-keys``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from chainflow.core.auth import Permission, Principal
from chainflow.gateway.api import require_permission
from chainflow.storage.relational import Database
from chainflow.users.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeysOut,
    ProfileOut,
    ProfilePatch,
)
from chainflow.users.service import UsersService
from chainflow.users.service.accounts import Profile, ProfileUpdate
from chainflow.users.service.api_keys import ApiKeySummary

ProfileReader = Annotated[Principal, Depends(require_permission(Permission.PROFILE_READ))]
KeyManager = Annotated[Principal, Depends(require_permission(Permission.API_KEYS_MANAGE))]


def profile_out(profile: Profile) -> ProfileOut:
    return ProfileOut(
        user_id=profile.user_id,
        tenant_id=profile.tenant_id,
        email=profile.email,
        role=profile.role,
        tier=profile.tier,
        name=profile.name,
        locale=profile.locale,
        timezone=profile.timezone,
        email_verified=profile.email_verified,
        is_superadmin=profile.is_superadmin,
        limits=profile.limits.to_dict(),
    )


def api_key_out(summary: ApiKeySummary) -> ApiKeyOut:
    return ApiKeyOut.model_validate(summary, from_attributes=True)


def build_account_router(service: UsersService, database: Database) -> APIRouter:
    """Return the ``/users/me`` and ``/api-keys`` routes."""
    router = APIRouter()

    @router.get("/users/me", tags=["users"], summary="The caller's profile, tier and limits")
    @router.get("/me", tags=["users"], summary="Alias of /users/me")
    async def get_me(principal: ProfileReader) -> ProfileOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            profile = await service.accounts.get_profile(uow, principal)
        return profile_out(profile)

    @router.patch("/users/me", tags=["users"], summary="Change name, locale or time zone")
    async def update_me(body: ProfilePatch, principal: ProfileReader) -> ProfileOut:
        update = ProfileUpdate(name=body.name, locale=body.locale, timezone=body.timezone)
        async with database.unit_of_work(principal.tenant) as uow:
            profile = await service.accounts.update_profile(uow, principal, update)
        return profile_out(profile)

    @router.post(
        "/api-keys",
        status_code=status.HTTP_201_CREATED,
        tags=["api-keys"],
        summary="Create an API key; the key is in this answer only",
    )
    async def create_api_key(body: ApiKeyCreate, principal: KeyManager) -> ApiKeyCreated:
        async with database.unit_of_work(principal.tenant) as uow:
            created = await service.api_keys.create(uow, principal, body.name, body.scopes)
        return ApiKeyCreated(key=created.key, **api_key_out(created.summary).model_dump())

    @router.get("/api-keys", tags=["api-keys"], summary="Active API keys (prefix only)")
    async def list_api_keys(principal: KeyManager) -> ApiKeysOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            keys = await service.api_keys.list_keys(uow, principal)
        return ApiKeysOut(items=[api_key_out(key) for key in keys])

    @router.delete(
        "/api-keys/{key_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        tags=["api-keys"],
        summary="Revoke an API key; it stops working at once",
    )
    async def delete_api_key(key_id: str, principal: KeyManager) -> Response:
        async with database.unit_of_work(principal.tenant) as uow:
            await service.api_keys.revoke(uow, principal, key_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
