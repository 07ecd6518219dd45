"""Tenant context: who a query runs for. Repositories of tenant-owned tables require one."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from chainflow.core.ids import TenantId, UserId


@dataclass(frozen=True, slots=True)
class TenantContext:
    """The tenant a unit of work acts for; built by the auth layer, passed explicitly."""

    tenant_id: TenantId
    user_id: UserId | None = None
    role: str | None = None

    def __post_init__(self) -> None:
        if not self.tenant_id:
            raise ValueError("tenant_id must be a non-empty string, received an empty value")


# A copy for log binding only; code never reads tenancy from here.
current_tenant_for_logging: ContextVar[str | None] = ContextVar(
    "current_tenant_for_logging", default=None
)
