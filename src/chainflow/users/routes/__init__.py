"""HTTP routes of the users service. Thin: authorise, open the unit of work, call the
service, shape the answer. The edge owns the transaction (STYLE.md section 1.4)."""

from __future__ import annotations

from fastapi import APIRouter

from chainflow.storage.relational import Database
from chainflow.users.routes.account import build_account_router
from chainflow.users.routes.admin import build_admin_router
from chainflow.users.routes.auth import build_auth_router
from chainflow.users.routes.tenant import build_tenant_router
from chainflow.users.service import UsersService


def build_users_router(
    *, service: UsersService, database: Database, reveal_verification_token: bool = True
) -> APIRouter:
    """Return every route of the users service, to mount under ``/api/v1``.

    ``reveal_verification_token`` is false in ``prod`` (``build_admin_router``)."""
    router = APIRouter()
    for build in (build_auth_router, build_account_router, build_tenant_router):
        router.include_router(build(service, database))
    router.include_router(
        build_admin_router(service, database, reveal_verification_token=reveal_verification_token)
    )
    return router


__all__ = ["build_users_router"]
