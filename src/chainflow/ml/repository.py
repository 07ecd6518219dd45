"""All queries of the ml service's tables (STYLE.md section 3).

``ml_models`` has platform rows (``tenant_id`` NULL) beside tenant rows, so it cannot use
``TenantRepository``. ``ModelVersionRepository`` plays the same part: it is built for one
owner (a ``TenantContext``, or ``None`` for the platform) and every statement it builds
carries that owner's filter. A tenant that lists what it may use reads two repositories,
the platform's and its own.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Delete,
    Select,
    Update,
    case,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chainflow.core.errors import Conflict
from chainflow.core.tenancy import TenantContext
from chainflow.ml.models import PRODUCTION_STAGE, MlArtifact, MlModel
from chainflow.storage.relational import Repository
from chainflow.storage.relational.unit_of_work import SYSTEM_INFO_KEY, TENANT_INFO_KEY

ARCHIVED_STAGE = "archived"
_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
# Tenant ids bound in one fingerprint statement (PostgreSQL takes at most 32,767 parameters).
FINGERPRINT_CHUNK = 10_000


class ModelVersionRepository(Repository[MlModel]):
    """Queries of one owner's model versions: a tenant's (``owner``) or the platform's (None).

    Reading platform rows works in any unit of work (RLS lets every tenant read them);
    changing them needs a ``system=True`` one, which ``lock_for_changes`` checks.
    """

    def __init__(self, session: AsyncSession, owner: TenantContext | None) -> None:
        if owner is not None and not isinstance(owner, TenantContext):
            raise TypeError(
                "ModelVersionRepository needs a TenantContext or None (the platform); "
                f"received {type(owner).__name__}"
            )
        super().__init__(session)
        self.owner = owner
        if owner is not None:
            _check_unit_of_work_tenant(session, owner)

    @property
    def owner_id(self) -> str | None:
        return None if self.owner is None else self.owner.tenant_id

    # --- statement builders -------------------------------------------------------------

    def _owner_filter(self) -> ColumnElement[bool]:
        if self.owner is None:
            return MlModel.tenant_id.is_(None)
        return MlModel.tenant_id == self.owner.tenant_id

    def _select(self) -> Select[MlModel]:
        return select(MlModel).where(self._owner_filter())

    def _update(self) -> Update:
        return update(MlModel).where(self._owner_filter())

    def _delete(self) -> Delete:
        return delete(MlModel).where(self._owner_filter())

    # --- writes -------------------------------------------------------------------------

    async def lock_for_changes(self, name: str) -> None:
        """Serialise changes of ``name``'s versions until the transaction ends.

        On PostgreSQL a transaction-scoped advisory lock per (owner, name) makes version
        numbering and the one-production rule safe against concurrent requests; SQLite
        serialises writers already (a unit of work begins IMMEDIATE).
        """
        if self.owner is None and not self.session.info.get(SYSTEM_INFO_KEY):
            raise ValueError(
                "changing platform models needs a unit of work opened with system=True; "
                "it received a tenant-scoped one"
            )
        if self.session.get_bind().dialect.name != "postgresql":
            return
        key = zlib.crc32(f"ml_models/{self.owner_id or ''}/{name}".encode())
        await self.session.execute(_ADVISORY_LOCK, {"key": key})

    async def add_version(self, row: MlModel) -> MlModel:
        """Add ``row`` for this owner and flush."""
        row.tenant_id = self.owner_id
        self.session.add(row)
        await self.flush_changes()
        return row

    async def flush_changes(self) -> None:
        """Flush pending changes; a unique index broken by a concurrent change is a Conflict."""
        try:
            await self.session.flush()
        except IntegrityError as e:
            raise Conflict(
                "another request changed the versions of this model at the same time; "
                "expected no concurrent change. Retry."
            ) from e

    # --- reads --------------------------------------------------------------------------

    async def all_versions(self) -> Sequence[MlModel]:
        result = await self.session.execute(self._select().order_by(MlModel.name, MlModel.version))
        return result.scalars().all()

    async def versions(self, name: str) -> Sequence[MlModel]:
        result = await self.session.execute(
            self._select().where(MlModel.name == name).order_by(MlModel.version)
        )
        return result.scalars().all()

    async def get_version(self, name: str, version: int) -> MlModel | None:
        result = await self.session.execute(
            self._select().where(MlModel.name == name, MlModel.version == version)
        )
        return result.scalar_one_or_none()

    async def has_name(self, name: str) -> bool:
        statement = self._select().where(MlModel.name == name).with_only_columns(MlModel.id)
        return (await self.session.execute(statement.limit(1))).first() is not None

    async def names_seen(self, name: str) -> tuple[bool, bool]:
        """Return whether this owner, and whether the platform, has a model ``name`` — in
        one query (``ModelRegistry.owner_of`` asks both on every model resolution)."""
        statement = (
            select(MlModel.tenant_id)
            .where(MlModel.name == name, or_(self._owner_filter(), MlModel.tenant_id.is_(None)))
            .distinct()
        )
        owners = {row[0] for row in await self.session.execute(statement)}
        own = self.owner is not None and self.owner.tenant_id in owners
        return own, None in owners

    async def latest_version(self, name: str) -> int:
        """Return the highest version of ``name``, or 0 when it has none."""
        statement = (
            self._select().where(MlModel.name == name).with_only_columns(func.max(MlModel.version))
        )
        return int(await self.session.scalar(statement) or 0)

    async def production(self, name: str) -> MlModel | None:
        result = await self.session.execute(
            self._select().where(MlModel.name == name, MlModel.stage == PRODUCTION_STAGE)
        )
        return result.scalar_one_or_none()

    async def previous_production(self, name: str) -> MlModel | None:
        """Return the version of ``name`` archived last among those once in production."""
        statement = (
            self._select()
            .where(
                MlModel.name == name,
                MlModel.stage == ARCHIVED_STAGE,
                MlModel.promoted_at.is_not(None),
            )
            .order_by(
                MlModel.archived_at.desc(), MlModel.promoted_at.desc(), MlModel.version.desc()
            )
            .limit(1)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def live_names(self) -> set[str]:
        """Return the names that have a version not archived (what counts towards a quota)."""
        statement = (
            self._select()
            .where(MlModel.stage != ARCHIVED_STAGE)
            .with_only_columns(MlModel.name)
            .distinct()
        )
        return set((await self.session.execute(statement)).scalars().all())


@dataclass(frozen=True, slots=True)
class OwnerFingerprint:
    """What one owner's versions of a name look like now, in a few aggregates: any
    registration, stage change or deletion changes at least one of them."""

    rows: int
    latest_version: int
    changed_at: datetime | None
    production_id: str | None
    production_promoted_at: datetime | None


class ModelFingerprintRepository:
    """The fingerprints of one model name for a set of tenants and the platform, in one
    statement (``chainflow.ml.live.model_refresh``). Reads other tenants' rows, so it needs
    a ``system=True`` unit of work; every statement is filtered by the tenant ids given."""

    def __init__(self, session: AsyncSession) -> None:
        if not session.info.get(SYSTEM_INFO_KEY):
            raise ValueError(
                "ModelFingerprintRepository reads several tenants' rows and needs a unit of "
                "work opened with system=True; it received a tenant-scoped one"
            )
        self.session = session

    async def fingerprints(
        self, name: str, tenant_ids: Sequence[str]
    ) -> dict[str | None, OwnerFingerprint]:
        """Return the fingerprint of ``name`` per owner among ``tenant_ids`` and the
        platform (None); an owner without a version of ``name`` is absent."""
        found: dict[str | None, OwnerFingerprint] = {}
        chunks = [
            tenant_ids[i : i + FINGERPRINT_CHUNK]
            for i in range(0, len(tenant_ids), FINGERPRINT_CHUNK)
        ]
        for chunk in chunks or [()]:
            for row in await self.session.execute(_fingerprint_statement(name, chunk)):
                found[row.tenant_id] = OwnerFingerprint(
                    rows=int(row.rows),
                    latest_version=int(row.latest_version),
                    changed_at=row.changed_at,
                    production_id=row.production_id,
                    production_promoted_at=row.production_promoted_at,
                )
        return found


def _fingerprint_statement(
    name: str, tenant_ids: Sequence[str]
) -> Select[str | None, int, int, datetime, Any, Any]:
    in_production = MlModel.stage == PRODUCTION_STAGE
    owners: ColumnElement[bool] = MlModel.tenant_id.is_(None)
    if tenant_ids:
        owners = or_(owners, MlModel.tenant_id.in_(list(tenant_ids)))
    return (
        select(
            MlModel.tenant_id,
            func.count().label("rows"),
            func.max(MlModel.version).label("latest_version"),
            func.max(MlModel.updated_at).label("changed_at"),
            func.max(case((in_production, MlModel.id))).label("production_id"),
            func.max(case((in_production, MlModel.promoted_at))).label("production_promoted_at"),
        )
        .where(MlModel.name == name, owners)
        .group_by(MlModel.tenant_id)
    )


def _check_unit_of_work_tenant(session: AsyncSession, tenant: TenantContext) -> None:
    # As TenantRepository: on PostgreSQL RLS would hide another tenant's rows, so a unit of
    # work opened for someone else is a bug; refuse it on SQLite too.
    if TENANT_INFO_KEY not in session.info or session.info.get(SYSTEM_INFO_KEY):
        return
    opened_for: TenantContext | None = session.info[TENANT_INFO_KEY]
    if opened_for is None or opened_for.tenant_id != tenant.tenant_id:
        opened = repr(opened_for.tenant_id) if opened_for else "no tenant"
        raise ValueError(
            f"ModelVersionRepository for tenant {tenant.tenant_id!r} needs a unit of work "
            f"opened for the same tenant (or system=True); it was opened for {opened}"
        )


class ArtifactRepository:
    """Artifacts kept in the relational database (no tenant column: the registry row that
    points at an artifact is the tenant-scoped record; the path is only reached through it)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def put(self, path: str, sha256: str, data: bytes) -> None:
        existing = await self._session.get(MlArtifact, path)
        if existing is None:
            self._session.add(MlArtifact(path=path, sha256=sha256, size=len(data), data=data))
        else:  # a version number re-used after a failed registration: the newer bytes win
            existing.sha256, existing.size, existing.data = sha256, len(data), data

    async def get(self, path: str) -> MlArtifact | None:
        return await self._session.get(MlArtifact, path)
