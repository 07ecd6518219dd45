"""What billing needs from the rest of the users service, as injected callables.

Billing never imports the users service's logic, repository or tables: the users tables
import billing's (so that migrations see them), and the reverse would be a cycle. The
composition root passes ``AdminService.change_tier`` (the path of ``chainflow users
set-tier``), ``AdminService.get_tenant`` and ``AccountService.get_profile``.
"""

from __future__ import annotations

from typing import Protocol

from chainflow.core.auth import Principal
from chainflow.core.ids import TenantId
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import UnitOfWork


class Customer(Protocol):
    """The payer as Midtrans's ``customer_details`` needs them."""

    @property
    def email(self) -> str: ...

    @property
    def name(self) -> str: ...


class TierChanger(Protocol):
    """Move a tenant to another tier in ``uow``; publish and drop cached principals after
    the commit (``AdminService.change_tier``)."""

    async def __call__(
        self, uow: UnitOfWork, changed_by: str | None, tenant_id: str, raw_tier: str
    ) -> object: ...


class HasTier(Protocol):
    @property
    def tier(self) -> str: ...


class TierReader(Protocol):
    """Return a tenant's stored tier (``AdminService.get_tenant``)."""

    async def __call__(self, uow: UnitOfWork, tenant_id: str) -> HasTier: ...


class CustomerLookup(Protocol):
    """Return the signed-in caller's e-mail and name (``AccountService.get_profile``)."""

    async def __call__(self, uow: UnitOfWork, principal: Principal) -> Customer: ...


def tenant_context_for(tenant_id: str) -> TenantContext:
    """Return the tenant context to act on a tenant known from an order or subscription."""
    return TenantContext(tenant_id=TenantId(tenant_id))
