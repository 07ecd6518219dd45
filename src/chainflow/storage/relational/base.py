"""The declarative base every service's tables build on, and the mixins they share.

There is one ``Base`` with one ``MetaData``: Alembic's ``env.py`` reads only
``Base.metadata``, and ``chainflow db upgrade`` imports every enabled service's
``models`` module before it migrates.

Rules for models (STYLE.md section 3):
- a tenant-owned table inherits ``TenantOwned``; its queries live only in that service's
  ``repository.py``, built on ``TenantRepository``, and PostgreSQL RLS guards it
  (``storage.relational.rls``);
- every ``relationship()`` is declared ``lazy="raise"``. There is no implicit I/O on
  attribute access in async code: load what you need with ``selectinload``/``joinedload``
  in the repository query, and a forgotten load fails loudly in tests as in production;
- datetimes are timezone-aware (``Mapped[datetime]`` maps to ``UTCDateTime``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from chainflow.core.ids import new_id
from chainflow.storage.relational.column_types import UTCDateTime

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TYPE_ANNOTATION_MAP: dict[Any, Any] = {
    datetime: UTCDateTime(),
    dict[str, Any]: JSON(),
    list[Any]: JSON(),
}

TENANT_KEY_INFO = "chainflow_tenant_key"
"""``Column.info`` flag on the ``tenant_id`` column that marks a table as tenant-owned."""

ID_LENGTH = 32


class Base(DeclarativeBase):
    """Declarative base of every ChainFlow table; ``Base.metadata`` is the one schema."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


class IdMixin:
    """A 32-character UUIDv7 hex primary key, time-ordered, assigned on flush."""

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)


class TimestampMixin:
    """``created_at`` and ``updated_at``, timezone-aware.

    The unit of work stamps both from the database's injected clock when a row is added and
    bumps ``updated_at`` when the ORM flushes a change; the server default covers rows
    inserted with plain Core statements. Core ``update()`` statements must set
    ``updated_at`` themselves (``TenantRepository.update_by_id`` does).
    """

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=func.now()
    )


class TenantOwned:
    """Marks a table as owned by one tenant: a non-null, indexed ``tenant_id`` column.

    Query it only through a ``TenantRepository``; enable RLS for it in its migration with
    ``storage.relational.rls.enable_tenant_rls``.
    """

    tenant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), nullable=False, index=True, info={TENANT_KEY_INFO: True}
    )


def is_tenant_owned(model: type[Any]) -> bool:
    """Return whether ``model`` is a mapped class that inherits ``TenantOwned``."""
    return isinstance(model, type) and issubclass(model, TenantOwned)


def tenant_tables(metadata: MetaData) -> frozenset[str]:
    """Return the names of the tenant-owned tables in ``metadata``."""
    return frozenset(
        table.name
        for table in metadata.tables.values()
        if any(column.info.get(TENANT_KEY_INFO) for column in table.columns)
    )
