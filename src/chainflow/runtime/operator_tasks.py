"""The operator's tasks on a started kernel, each naming a tenant by a user's e-mail.

The same functions serve the CLI on a tool-mode kernel (no server owns the home) and the
server's local admin endpoints (``runtime.local_admin``: the CLI asks the server that owns
the home). Every task runs in a ``system=True`` unit of work, as the operator's CLI always
has; the store is the kernel's time-series store, which the caller has opened.
"""

from __future__ import annotations

from typing import Any

from chainflow.bridge.api import read_bars
from chainflow.bridge.importers import ImportJob, ImportReport, ProgressCallback
from chainflow.bridge.stored_bars import StoredBars
from chainflow.core.errors import ConfigurationError
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.runtime.kernel import Kernel
from chainflow.users.service import UsersService
from chainflow.users.service.admin import TenantSummary


def users_of(kernel: Kernel) -> UsersService:
    """Return the kernel's users service (``ConfigurationError`` when not run here)."""
    if kernel.users is None:
        raise ConfigurationError(
            "expected the users service in this process to find a tenant by e-mail; "
            f"received services {list(kernel.running_names)}"
        )
    return kernel.users


async def tenant_for_email(kernel: Kernel, email: str) -> TenantId:
    """Return the tenant of the user with ``email`` (``UserNotFoundError`` if none)."""
    database = kernel.infra.database
    async with database.unit_of_work(system=True, read_only=True) as uow:
        return TenantId(await users_of(kernel).admin.tenant_id_for_email(uow, email))


async def import_for_email(
    kernel: Kernel, job: ImportJob, progress: ProgressCallback | None = None
) -> ImportReport:
    """Import ``job``'s file into the tenant of ``job.email``."""
    tenant_id = await tenant_for_email(kernel, job.email)
    report = await job.run(kernel.infra.timeseries, tenant_id, progress)
    features = kernel.features
    if features is not None and report.rows_stored:  # live features take the imported bars
        await features.history_changed(tenant_id, report.symbol)
    return report


async def stored_bars_for_email(
    kernel: Kernel,
    email: str,
    symbol: str,
    timeframe: Timeframe,
    *,
    end_ms: int | None,
    count: int,
) -> StoredBars:
    """Return the tenant and its latest ``count`` stored bars opened before ``end_ms``
    (default: now), oldest first."""
    tenant_id = await tenant_for_email(kernel, email)
    until = end_ms if end_ms is not None else kernel.clock.now_ms() + 1
    store = kernel.infra.timeseries
    bars = await read_bars(store, tenant_id, symbol, timeframe, end_ms=until, count=count)
    return StoredBars(str(tenant_id), bars)


async def change_tier(kernel: Kernel, email: str, tier: str) -> TenantSummary:
    """Move the tenant of ``email`` to ``tier``."""
    admin = users_of(kernel).admin
    async with kernel.infra.database.unit_of_work(system=True) as uow:
        tenant_id = await admin.tenant_id_for_email(uow, email)
        return await admin.change_tier(uow, None, tenant_id, tier)


async def set_limits(kernel: Kernel, email: str, overrides: dict[str, Any]) -> TenantSummary:
    """Replace the limit overrides of the tenant of ``email``."""
    admin = users_of(kernel).admin
    async with kernel.infra.database.unit_of_work(system=True) as uow:
        tenant_id = await admin.tenant_id_for_email(uow, email)
        return await admin.set_limit_overrides(uow, tenant_id, overrides)


async def grant_superadmin(kernel: Kernel, email: str) -> None:
    """Make the user with ``email`` a platform superadmin."""
    admin = users_of(kernel).admin
    async with kernel.infra.database.unit_of_work(system=True) as uow:
        await admin.grant_superadmin(uow, email)


def summary_to_json(summary: TenantSummary) -> dict[str, Any]:
    """Return a tenant summary as the CLI prints it."""
    return {
        "tenant_id": summary.tenant_id,
        "tier": summary.tier,
        "limits": summary.limits.to_dict(),
    }
