"""``GET /api/v1/me/overview``: the caller, its tier's limits and usage, and every named part
(profile, subscription, ...) from the services that contribute one, in a single call.

Parts are fetched concurrently, each within ``timeout_s``. A part that fails or is too slow
becomes ``{"error": "<code>"}`` in its slot; the rest of the answer is still served.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from chainflow.core.auth import Principal
from chainflow.core.errors import ChainflowError
from chainflow.core.logging import get_logger
from chainflow.gateway.deps import CurrentPrincipal
from chainflow.gateway.rate_limit import REQUEST_STATE_ATTRIBUTE, RateLimitState

if TYPE_CHECKING:
    # Only a type here: ``gateway.api`` re-exports this module, so a runtime import would cycle.
    from chainflow.gateway.api import OverviewSource

log = get_logger("chainflow.gateway.overview")

SOURCE_TIMEOUT_S = 1.0
RESERVED_PARTS = frozenset({"principal", "limits", "usage"})
TIMEOUT_CODE = "timeout"


def build_overview_router(
    sources: Mapping[str, OverviewSource], *, timeout_s: float = SOURCE_TIMEOUT_S
) -> APIRouter:
    """Return the router of ``GET /me/overview`` aggregating ``sources`` by name."""
    clashing = sorted(RESERVED_PARTS & set(sources))
    if clashing:
        raise ValueError(
            f"overview source names must differ from {sorted(RESERVED_PARTS)}; received {clashing}"
        )
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive; received {timeout_s!r}")
    named_sources = dict(sources)
    router = APIRouter()

    @router.get(
        "/me/overview",
        tags=["gateway"],
        summary="The caller, its tier, limits and usage, and every service's part, in one call",
    )
    async def get_overview(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
        parts = await asyncio.gather(
            *(
                _fetch_part(name, source, principal, timeout_s)
                for name, source in named_sources.items()
            )
        )
        quota = getattr(request.state, REQUEST_STATE_ATTRIBUTE, None)
        body: dict[str, Any] = {
            "principal": {
                "user_id": principal.user_id,
                "tenant_id": principal.tenant_id,
                "role": principal.role.value,
                "tier": principal.tier.value,
                "auth_method": principal.auth_method,
            },
            "limits": principal.limits.to_dict(),
            "usage": {
                "rest_requests": quota.to_dict() if isinstance(quota, RateLimitState) else None
            },
        }
        body.update(zip(named_sources, parts, strict=True))
        return body

    return router


async def _fetch_part(
    name: str, source: OverviewSource, principal: Principal, timeout_s: float
) -> dict[str, Any]:
    try:
        return await asyncio.wait_for(source(principal), timeout_s)
    except TimeoutError:
        log.warning("overview_part_timed_out", part=name, timeout_s=timeout_s)
        return {"error": TIMEOUT_CODE}
    except ChainflowError as e:
        log.warning("overview_part_failed", part=name, code=e.code)
        return {"error": e.code}
    except Exception:
        log.exception("overview_part_crashed", part=name)
        return {"error": "internal_error"}
