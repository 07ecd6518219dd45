"""The users service's parts of other services' views: the ``profile`` section of
``GET /api/v1/me/overview`` and the in-process ``UsersApi``."""

from __future__ import annotations

from typing import Any

from chainflow.core.auth import Principal
from chainflow.core.tenancy import TenantContext
from chainflow.gateway.api import OverviewSource
from chainflow.storage.relational import Database
from chainflow.users.api import TradingSettings
from chainflow.users.routes.account import profile_out
from chainflow.users.service import UsersService


def build_profile_overview(service: UsersService, database: Database) -> OverviewSource:
    """Return the ``profile`` source of ``/api/v1/me/overview`` (the ``/users/me`` body)."""

    async def profile(principal: Principal) -> dict[str, Any]:
        async with database.unit_of_work(principal.tenant, read_only=True) as uow:
            found = await service.accounts.get_profile(uow, principal)
        return profile_out(found).model_dump(mode="json")

    return profile


class LocalUsersApi:
    """``UsersApi`` for callers in this process; each call is its own unit of work.

    Do not call it from inside another unit of work on SQLite (units of work do not nest
    there); pass the data you need into that transaction instead.
    """

    def __init__(self, *, service: UsersService, database: Database) -> None:
        self._service = service
        self._database = database

    async def get_trading_settings(self, tenant: TenantContext) -> TradingSettings:
        """Return the tenant's trading settings (defaults when none were stored)."""
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            return await self._service.trading_settings.get(uow, tenant)
