"""``/api/v1/notifications/templates/{kind}``: a tenant's template overrides.

Admins store (``PUT``) and remove (``DELETE``) the override of one (kind, channel,
locale); members of the tenant read them (``GET``). An override that does not render with
the kind's sample data is refused with 422 ``notification_template_invalid`` naming the
error.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from chainflow.core.auth import Permission, Principal
from chainflow.gateway.api import require_permission
from chainflow.notify.overrides import TemplateOverrides
from chainflow.notify.schemas import (
    ChannelName,
    TemplateOverridePage,
    TemplateOverridePut,
    TemplateOverrideRead,
)

__all__ = ["build_template_router"]

Admin = Annotated[Principal, Depends(require_permission(Permission.TENANT_MANAGE))]
Reader = Annotated[Principal, Depends(require_permission(Permission.TENANT_READ))]
Kind = Annotated[str, Path(max_length=64, pattern=r"^[a-z_]+$")]


def build_template_router(*, templates: TemplateOverrides) -> APIRouter:
    """Return the routes; mount under ``/api/v1`` before the notifications router."""
    router = APIRouter(prefix="/notifications/templates", tags=["notifications"])

    @router.get("/{kind}", summary="Your tenant's overrides of one notification kind")
    async def list_overrides(principal: Reader, kind: Kind) -> TemplateOverridePage:
        return TemplateOverridePage(items=await templates.list(principal.tenant, kind))

    @router.put(
        "/{kind}",
        summary="Store your tenant's subject and text of a kind on a channel in a locale",
    )
    async def put_override(
        principal: Admin, kind: Kind, body: TemplateOverridePut
    ) -> TemplateOverrideRead:
        return await templates.put(principal, kind, body)

    @router.delete("/{kind}", status_code=204, summary="Remove one of your tenant's overrides")
    async def delete_override(
        principal: Admin,
        kind: Kind,
        channel: Annotated[ChannelName, Query()],
        locale: Annotated[Literal["en", "id"], Query()] = "en",
    ) -> Response:
        await templates.delete(principal.tenant, kind, channel, locale)
        return Response(status_code=204)

    return router
