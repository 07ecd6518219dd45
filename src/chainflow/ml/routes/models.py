"""Routes of ``/api/v1/models``: the model registry as a tenant sees it.

A name means the caller's own custom model when its tenant registered one, else the
platform model (``?owner=`` picks explicitly). Reads need ``signals:read``; changes need
``models:manage``, and changes of platform models a platform superadmin as well, whose
requests run in a ``system=True`` unit of work. Another tenant's model is not found (404).

Promotion passes the gate (``chainflow.ml.registry.promotion_gate``): a version whose verdict does
not say it beats its baselines is refused with 409 ``promotion_refused`` unless the body
says ``{"force": true, "reason": "..."}``; the reason and the caller's user id are stored
with the version.

``GET /{name}/{version}/card`` is the version's model card (``chainflow.ml.cards.model_card``):
JSON, or with ``?format=html`` or ``Accept: text/html`` one HTML page with inline SVG charts
(``chainflow.ml.cards.html``), sent with its own content security policy (the API's
``default-src 'none'`` plus the hash of its inline stylesheet). Its live section is the
caller's tenant's scores since the promotion, from ``store`` (without one: not available).

A live fallback of the caller's tenant (``chainflow.ml.routes.fallback_view``) is shown as
``fallback`` on the card of each version it involves and on the listing's entry of the
model (since when, why, the version or ``hold`` serving the tenant instead); it is read
from ``store`` too (without one: none shown).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from chainflow.core.auth import Permission, Principal
from chainflow.core.tenancy import TenantContext
from chainflow.gateway.api import require_permission
from chainflow.ml.cards.html import card_content_security_policy, render_card_html
from chainflow.ml.cards.model_card import build_card, live_not_kept, live_since_promotion
from chainflow.ml.cards.types import LiveMetrics, ModelCard
from chainflow.ml.errors import PlatformModelChangeDeniedError
from chainflow.ml.live.scoring import baseline_accuracy
from chainflow.ml.registry.fallback_log import FallbackLog
from chainflow.ml.registry.model_registry import ModelRegistry
from chainflow.ml.registry.types import ModelVersion
from chainflow.ml.routes.fallback_view import ModelsListedOut, card_fallback, listed_models
from chainflow.ml.routes.schemas import (
    ModelVersionOut,
    ModelVersionsOut,
    PromoteIn,
)
from chainflow.storage.api import TimeSeriesStore
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
CardFormatQuery = Annotated[
    Literal["json", "html"] | None,
    Query(alias="format", description="json or html; default: html if Accept has text/html"),
]
NO_LIVE_STORE = "live metrics are not wired into this process's registry routes"


def build_registry_router(
    *,
    registry: ModelRegistry,
    database: Database,
    store: TimeSeriesStore | None = None,
    live_window: int = 500,
) -> APIRouter:
    """Return the ``/models`` routes, to mount under ``/api/v1``; ``store`` (the time-series
    store) and ``live_window`` (``CHAINFLOW_ML_PERFORMANCE_WINDOW``) feed the cards' live part."""
    router = APIRouter(prefix="/models", tags=["models"])
    fallbacks = None if store is None else FallbackLog(store)

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
    async def list_models(principal: ModelReader) -> ModelsListedOut:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            return await listed_models(fallbacks, registry, uow, principal.tenant)

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

    async def live_of(principal: Principal, model: ModelVersion) -> LiveMetrics:
        if store is None:
            return live_not_kept(NO_LIVE_STORE, live_window)
        return await live_since_promotion(
            store,
            principal.tenant_id,
            model,
            window=live_window,
            baseline_accuracy=baseline_accuracy(model),
        )

    @router.get(
        "/{name}/{version}/card",
        summary="A version's model card: JSON, or HTML with ?format=html or Accept: text/html",
        response_model=ModelCard,
        responses={
            200: {"content": {"text/html": {}}},
            404: {"description": "No such model or version visible to the tenant"},
        },
    )
    async def get_card(
        name: NamePath,
        version: VersionPath,
        request: Request,
        response: Response,
        principal: ModelReader,
        owner: OwnerQuery = None,
        output_format: CardFormatQuery = None,
    ) -> Response | ModelCard:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            model_owner = await owner_for(uow, principal, name, owner)
            model = await registry.get(uow, name, version, owner=model_owner)
            fallback = await card_fallback(fallbacks, registry, uow, principal.tenant, model)
        card = build_card(model, await live_of(principal, model), fallback)
        wants_html = output_format == "html" or (
            output_format is None and "text/html" in request.headers.get("accept", "")
        )
        if not wants_html:
            response.headers["Vary"] = "Accept"
            return card
        return Response(
            render_card_html(card),
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": card_content_security_policy(),
                "Vary": "Accept",
            },
        )

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
