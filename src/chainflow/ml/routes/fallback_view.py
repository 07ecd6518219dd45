"""What ``/api/v1/models`` shows of a tenant's live fallbacks
(``chainflow.ml.registry.fallback_log``).

A fallback belongs to one tenant and its production version of one name, so it is read for
the caller's tenant: the model card of a version shows the fallback in force when the
version takes part in it (``FallbackLog.affecting``), and the listing shows, on each model
the tenant is served, the fallback in force for its production version (``active``). A
platform model shadowed by the tenant's own model of the same name is not served to the
tenant, so it shows none. Both read the registry in the caller's unit of work; the fallbacks
come from the time-series store.
"""

from __future__ import annotations

from pydantic import BaseModel

from chainflow.core.tenancy import TenantContext
from chainflow.ml.cards.model_card import fallback_part
from chainflow.ml.cards.types import FallbackPart
from chainflow.ml.errors import ModelNotFoundError
from chainflow.ml.registry.fallback_log import Fallback, FallbackLog
from chainflow.ml.registry.model_registry import ModelRegistry
from chainflow.ml.registry.types import ModelSummary, ModelVersion
from chainflow.ml.routes.schemas import ModelSummaryOut
from chainflow.storage.relational import UnitOfWork

__all__ = ["ModelListedOut", "ModelsListedOut", "card_fallback", "listed_models"]


class ModelListedOut(ModelSummaryOut):
    """A model of the listing, with the caller's live fallback of its production version."""

    fallback: FallbackPart | None = None


class ModelsListedOut(BaseModel):
    items: list[ModelListedOut]


async def card_fallback(
    fallbacks: FallbackLog | None,
    registry: ModelRegistry,
    uow: UnitOfWork,
    tenant: TenantContext,
    model: ModelVersion,
) -> Fallback | None:
    """Return the tenant's fallback in force that involves ``model``, if any."""
    if fallbacks is None:
        return None
    try:
        production = await registry.production(uow, model.name, viewer=tenant)
    except ModelNotFoundError:
        return None
    if production is None or production.tenant_id != model.tenant_id:
        return None  # not the model the tenant is served under this name
    return await fallbacks.affecting(tenant.tenant_id, production, model.version)


async def listed_models(
    fallbacks: FallbackLog | None,
    registry: ModelRegistry,
    uow: UnitOfWork,
    tenant: TenantContext,
) -> ModelsListedOut:
    """Return the models ``tenant`` may use, each with its fallback in force."""
    summaries = await registry.list(uow, viewer=tenant)
    own = {s.name for s in summaries if s.tenant_id is not None}
    items = []
    for summary in summaries:
        fallback = None
        if fallbacks is not None and _served(summary, own):
            fallback = await _production_fallback(fallbacks, registry, uow, tenant, summary)
        shown = ModelSummaryOut.of(summary).model_dump()
        shown["fallback"] = None if fallback is None else fallback_part(fallback)
        items.append(ModelListedOut.model_validate(shown))
    return ModelsListedOut(items=items)


def _served(summary: ModelSummary, own: set[str]) -> bool:
    return summary.tenant_id is not None or summary.name not in own


async def _production_fallback(
    fallbacks: FallbackLog,
    registry: ModelRegistry,
    uow: UnitOfWork,
    tenant: TenantContext,
    summary: ModelSummary,
) -> Fallback | None:
    if summary.production_version is None:
        return None
    owner = None if summary.tenant_id is None else tenant
    production = await registry.get(uow, summary.name, summary.production_version, owner=owner)
    return await fallbacks.active(tenant.tenant_id, production)
