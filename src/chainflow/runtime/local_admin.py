"""``/api/v1/local/...``: the operator's CLI, on this machine, working through the server.

A server that owns its home (the embedded time-series store is open in this process only)
writes a random token into ``CHAINFLOW_HOME/server.json`` (``runtime.server_file``, mode
0600). A request carrying that token as ``Authorization: Bearer`` acts as the operator's
CLI: it names tenants by a user's e-mail and runs in ``system=True`` units of work. So the
token is accepted only when

- the TCP peer is a loopback address (the socket's own peer: proxy headers are off), and
  the request carries no ``X-Forwarded-For`` (it was not relayed by a proxy on this host);
- it equals the server's token, compared in constant time.

The token is never logged and these routes are not in the OpenAPI document.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from chainflow.bridge.importers import ImportJob, report_to_json
from chainflow.core.errors import Forbidden, InvalidInput, Unauthenticated
from chainflow.core.market import Timeframe
from chainflow.runtime import operator_tasks
from chainflow.runtime.kernel import Kernel

LOCAL_PREFIX = "/api/v1/local"
MAX_BARS_PER_PAGE = 100_000


class LocalAdminRefused(Forbidden):
    """The local admin token came from beyond this machine's loopback interface."""

    code = "local_admin_refused"


class LocalTokenInvalid(Unauthenticated):
    """The request did not carry this server's local admin token."""

    code = "local_token_invalid"


class LocalAdminGuard:
    """Accept a request as the local operator only from loopback with the server's token."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def check(self, peer_host: str | None, authorization: str | None, *, relayed: bool) -> None:
        """Raise ``LocalAdminRefused`` (403) or ``LocalTokenInvalid`` (401) unless allowed."""
        if relayed or not is_loopback_peer(peer_host):
            raise LocalAdminRefused(
                "expected a local admin request from this machine's loopback interface "
                "(127.0.0.1 or ::1), not relayed by a proxy; received one from another address"
            )
        scheme, _, token = (authorization or "").strip().partition(" ")
        presented = token.strip().encode() if scheme.lower() == "bearer" else b""
        if not hmac.compare_digest(presented, self._token):
            raise LocalTokenInvalid(
                "expected 'Authorization: Bearer <token>' with the token of this server's "
                "server.json; received another value or none"
            )


def is_loopback_peer(host: str | None) -> bool:
    """Return whether ``host`` (a socket peer address) is a loopback address."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ImportAnswer(BaseModel):
    path: str
    format: str
    symbol: str
    rows_read: int
    rows_stored: int
    duplicates_skipped: int
    rows_without_quote: int
    first_ts: int | None
    last_ts: int | None


class StoredBarOut(BaseModel):
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    tick_count: int
    spread_min: float
    spread_max: float
    spread_sum: float
    first_tick_ts: int
    last_tick_ts: int


class StoredBarsPage(BaseModel):
    tenant_id: str
    items: list[StoredBarOut]


class TierIn(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    tier: str = Field(min_length=1, max_length=40)


class LimitsIn(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    overrides: dict[str, Any]


class EmailIn(BaseModel):
    email: str = Field(min_length=1, max_length=320)


class TenantAnswer(BaseModel):
    tenant_id: str
    tier: str
    limits: dict[str, Any]


def build_local_admin_router(kernel: Kernel, token: str) -> APIRouter:
    """Return the local admin routes of ``kernel``'s server, guarded by ``token``."""
    guard = LocalAdminGuard(token)

    async def local_operator(request: Request) -> None:
        peer = request.client.host if request.client else None
        relayed = "x-forwarded-for" in request.headers or "forwarded" in request.headers
        guard.check(peer, request.headers.get("authorization"), relayed=relayed)

    router = APIRouter(dependencies=[Depends(local_operator)], include_in_schema=False)

    @router.get("/ping")
    async def ping() -> dict[str, Any]:
        return {"home": str(kernel.settings.home.resolve()), "pid": os.getpid()}

    @router.post("/import")
    async def import_file(body: dict[str, Any]) -> ImportAnswer:
        job = ImportJob.from_json(body)
        if not job.file.is_absolute() or not job.file.is_file():
            raise InvalidInput(
                f"expected an absolute path of a readable file; received {str(job.file)!r}"
            )
        report = await operator_tasks.import_for_email(kernel, job)
        return ImportAnswer(**report_to_json(report))

    @router.get("/bars")
    async def stored_bars(
        email: str,
        symbol: str,
        timeframe: Timeframe,
        count: Annotated[int, Query(ge=1, le=MAX_BARS_PER_PAGE)],
        end: Annotated[int | None, Query(description="epoch ms, exclusive")] = None,
    ) -> StoredBarsPage:
        tenant_id, bars = await operator_tasks.stored_bars_for_email(
            kernel, email, symbol.strip().upper(), timeframe, end_ms=end, count=count
        )
        return StoredBarsPage(
            tenant_id=tenant_id,
            items=[StoredBarOut.model_validate(bar, from_attributes=True) for bar in bars],
        )

    @router.post("/users/tier")
    async def change_tier(body: TierIn) -> TenantAnswer:
        summary = await operator_tasks.change_tier(kernel, body.email, body.tier)
        return TenantAnswer(**operator_tasks.summary_to_json(summary))

    @router.post("/users/limits")
    async def set_limits(body: LimitsIn) -> TenantAnswer:
        summary = await operator_tasks.set_limits(kernel, body.email, body.overrides)
        return TenantAnswer(**operator_tasks.summary_to_json(summary))

    @router.post("/users/superadmin", status_code=204)
    async def grant_superadmin(body: EmailIn) -> None:
        await operator_tasks.grant_superadmin(kernel, body.email)

    return router
