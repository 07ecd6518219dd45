"""Routes of ``/api/v1/models``: the model registry as a tenant sees it.

A name means the caller's own custom model when its tenant registered one, else the
platform model (``?owner=`` picks explicitly). Reads need ``signals:read``; changes need
``models:manage``, and changes of platform models a platform superadmin as well, whose
requests run in a ``system=True`` unit of work. Another tenant's model is not found (404).

Promotion passes the gate (``chainflow.ml.promotion_gate``): a version whose verdict does
not say it beats its baselines is refused with 409 ``promotion_refused`` unless the body
says ``{"force": true, "reason": "..."}``; the reason and the caller's user id are stored
with the version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from chainflow.core.auth import Permission, Principal
from chainflow.core.tenancy import TenantContext
from chainflow.gateway.api import require_permission
from chainflow.ml.registry import ModelRegistry
from chainflow.ml.registry_schemas import (
    ModelsOut,
    ModelSummaryOut,
    ModelVersionOut,
    ModelVersionsOut,
    PromoteIn,
)
from chainflow.ml.registry_types import ModelVersion, PlatformModelChangeDeniedError
from chainflow.storage.relational import Database, UnitOfWork

ModelReader = Annotated[Principal, Depends(require_permission(Permission.SIGNALS_READ))]
ModelManager = Annotated[Principal, Depends(require_permission(Permission.MODELS_MANAGE))]
OwnerQuery = Annotated[
    Literal["tenant", "platform"] | None,
    Query(alias="owner", description="whose model the name means; default: own, else platform"),
]
NamePath = Annotated[str, Path(min_length=1, max_length=64)]
VersionPath = Annotated[int, Path(ge=1)]
Change = Callable[[UnitOfWork, TenantContext | None], Awaitable[ModelVersion]]


def build_registry_router(*, registry: ModelRegistry, database: Database) -> APIRouter:
    """Return the ``/models`` routes, to mount under ``/api/v1``."""
    router = APIRouter(prefix="/models", tags=["models"])

    async def owner_for(
        uow: UnitOfWork, principal: Principal, name: str, owner: str | None
    ) -> TenantContext | None:
        if owner == "platform":
            return None
        if owner == "tenant":
            return principal.tenant
        return await registry.owner_of(uow, name, principal.tenant)

    async def change(
        principal: Principal, name: str, owner: str | None, action: Change
    ) -> ModelVersionOut:
        system = principal.is_superadmin
        async with database.unit_of_work(principal.tenant, system=system) as uow:
            model_owner = await owner_for(uow, principal, name, owner)
            if model_owner is None and not principal.is_superadmin:
                raise PlatformModelChangeDeniedError(
                    f"model {name!r} is a platform model, which only a platform superadmin "
                    "may change; the caller is not one",
                    details={"required_permission": Permission.PLATFORM_ADMIN.value},
                )
            changed = await action(uow, model_owner)
        return ModelVersionOut.of(changed)

    @router.get("", summary="The models the tenant may use: the platform's and its own")
    async def list_models(principal: ModelReader) -> ModelsOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            summaries = await registry.list(uow, viewer=principal.tenant)
        return ModelsOut(items=[ModelSummaryOut.of(s) for s in summaries])

    @router.get("/{name}", summary="Every version of a model, oldest first")
    async def list_versions(
        name: NamePath, principal: ModelReader, owner: OwnerQuery = None
    ) -> ModelVersionsOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            model_owner = await owner_for(uow, principal, name, owner)
            versions = await registry.versions(uow, name, owner=model_owner)
        return ModelVersionsOut(
            name=name,
            owner="platform" if model_owner is None else "tenant",
            items=[ModelVersionOut.of(v) for v in versions],
        )

    @router.get("/{name}/{version}", summary="One version of a model")
    async def get_version(
        name: NamePath, version: VersionPath, principal: ModelReader, owner: OwnerQuery = None
    ) -> ModelVersionOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            model_owner = await owner_for(uow, principal, name, owner)
            model = await registry.get(uow, name, version, owner=model_owner)
        return ModelVersionOut.of(model)

    @router.post(
        "/{name}/{version}/promote",
        summary="Make a version the production one; the previous production is archived",
    )
    async def promote(
        name: NamePath,
        version: VersionPath,
        principal: ModelManager,
        owner: OwnerQuery = None,
        body: PromoteIn | None = None,
    ) -> ModelVersionOut:
        gate = body or PromoteIn()

        def action(uow: UnitOfWork, model_owner: TenantContext | None) -> Awaitable[ModelVersion]:
            return registry.promote(
                uow,
                name,
                version,
                owner=model_owner,
                force=gate.force,
                reason=gate.reason,
                by=f"user {principal.user_id}",
            )

        return await change(principal, name, owner, action)

    @router.post(
        "/{name}/rollback",
        summary="Bring back the previous production version; the current one is archived",
    )
    async def rollback(
        name: NamePath, principal: ModelManager, owner: OwnerQuery = None
    ) -> ModelVersionOut:
        return await change(
            principal, name, owner, lambda uow, o: registry.rollback(uow, name, owner=o)
        )

    @router.post("/{name}/{version}/archive", summary="Archive a version")
    async def archive(
        name: NamePath, version: VersionPath, principal: ModelManager, owner: OwnerQuery = None
    ) -> ModelVersionOut:
        return await change(
            principal, name, owner, lambda uow, o: registry.archive(uow, name, version, owner=o)
        )

    return router
