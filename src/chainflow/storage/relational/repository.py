"""Repository bases: ``Repository[M]`` for global tables, ``TenantRepository[M]`` for tenant ones.

A service's ``repository.py`` subclasses one per table and names the model as the type
argument; methods take domain arguments only and never commit::

    class NoteRepository(TenantRepository[Note]):
        async def list_pinned(self) -> Sequence[Note]:
            result = await self.session.execute(self._select().where(Note.pinned))
            return result.scalars().all()

Build every query from ``_select()``/``_update()``/``_delete()`` so that the tenant filter
is always there; PostgreSQL RLS is the last line of defence, not the first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, get_args, get_origin

from sqlalchemy import ColumnElement, Delete, Select, Update, delete, func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapper

from chainflow.core.errors import Forbidden, InvalidInput, NotFound
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational.base import TimestampMixin, is_tenant_owned
from chainflow.storage.relational.unit_of_work import (
    CLOCK_INFO_KEY,
    SYSTEM_INFO_KEY,
    TENANT_INFO_KEY,
)

ModelT = TypeVar("ModelT", bound=DeclarativeBase)
ItemT = TypeVar("ItemT")

DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Page(Generic[ItemT]):
    """One page of a keyset-paginated listing: pass ``next_cursor`` back as ``after``."""

    items: Sequence[ItemT]
    limit: int
    next_cursor: str | None = None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def _require_mapped(repository: type, model: Any) -> None:
    if not isinstance(model, type) or not isinstance(inspect(model, raiseerr=False), Mapper):
        raise TypeError(
            f"{repository.__name__}.model must be a mapped class (a subclass of "
            f"chainflow.storage.relational.Base); received {model!r}"
        )


def _model_from_type_arguments(cls: type) -> Any:
    for base in getattr(cls, "__orig_bases__", ()):
        origin = get_origin(base)
        if isinstance(origin, type) and issubclass(origin, Repository):
            arguments = get_args(base)
            if arguments and isinstance(arguments[0], type):
                return arguments[0]
    return None


class Repository(Generic[ModelT]):
    """Queries of one global (not tenant-owned) table, over a session it does not own."""

    model: ClassVar[type[Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = cls.__dict__.get("model") or _model_from_type_arguments(cls)
        if model is not None:
            cls.model = model
            cls._check_model(model)

    def __init__(self, session: AsyncSession) -> None:
        model = getattr(type(self), "model", None)
        if model is None:
            raise TypeError(
                f"{type(self).__name__} must name its model, as in "
                f"`class NoteRepository({type(self).__name__}[Note])`; it names none"
            )
        type(self)._check_model(model)
        self.session = session

    @classmethod
    def _check_model(cls, model: Any) -> None:
        _require_mapped(cls, model)
        if is_tenant_owned(model):
            raise TypeError(
                f"{model.__name__} is tenant-owned; query it through a TenantRepository, "
                f"not {cls.__name__}"
            )

    # --- statement builders for subclasses ---------------------------------------------

    def _select(self) -> Select[ModelT]:
        return select(self.model)

    def _update(self) -> Update:
        return update(self.model)

    def _delete(self) -> Delete:
        return delete(self.model)

    # --- generic operations ------------------------------------------------------------

    async def get(self, id: Any) -> ModelT | None:
        """Return the row with primary key ``id``, or ``None``."""
        result = await self.session.execute(self._select().where(self._primary_key() == id))
        return result.scalar_one_or_none()

    async def get_one(self, id: Any) -> ModelT:
        """Return the row with primary key ``id``; raise ``NotFound`` when there is none."""
        row = await self.get(id)
        if row is None:
            raise NotFound(f"{self.model.__name__} {id!r} was not found")
        return row

    async def add(self, row: ModelT) -> ModelT:
        """Add ``row`` and flush, so that its id and defaults are set; return it."""
        self.session.add(row)
        await self.session.flush()
        return row

    async def delete(self, row: ModelT) -> None:
        """Delete ``row`` and flush."""
        await self.session.delete(row)
        await self.session.flush()

    async def update_by_id(self, id: Any, values: Mapping[str, Any]) -> bool:
        """Set ``values`` on the row with primary key ``id``; return whether it existed."""
        key = self._primary_key()
        forbidden = {key.key, "tenant_id"} & set(values)
        if forbidden:
            raise InvalidInput(
                f"update_by_id cannot change {', '.join(sorted(forbidden))}; received "
                f"values for {', '.join(sorted(values))}"
            )
        values = dict(values)
        clock = self.session.info.get(CLOCK_INFO_KEY)
        if issubclass(self.model, TimestampMixin) and "updated_at" not in values and clock:
            values["updated_at"] = clock.now()
        statement = self._update().where(key == id).values(values)
        result = await self.session.execute(statement.returning(key))
        return result.first() is not None

    async def delete_by_id(self, id: Any) -> bool:
        """Delete the row with primary key ``id``; return whether it existed."""
        key = self._primary_key()
        result = await self.session.execute(self._delete().where(key == id).returning(key))
        return result.first() is not None

    async def count(self) -> int:
        """Return how many rows the repository can see."""
        statement = select(func.count()).select_from(self._select().subquery())
        return int(await self.session.scalar(statement) or 0)

    async def list(
        self, *, limit: int = DEFAULT_PAGE_LIMIT, after: str | None = None
    ) -> Page[ModelT]:
        """Return rows in primary-key order, ``limit`` at a time, starting after ``after``."""
        return await self._paginate(self._select(), limit=limit, after=after)

    async def _paginate(
        self, statement: Select[ModelT], *, limit: int, after: str | None
    ) -> Page[ModelT]:
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_LIMIT}; received {limit}")
        key = self._primary_key()
        if after is not None:
            statement = statement.where(key > after)
        result = await self.session.execute(statement.order_by(key).limit(limit + 1))
        rows = list(result.scalars().all())
        if len(rows) <= limit:
            return Page(items=rows, limit=limit)
        rows = rows[:limit]
        return Page(items=rows, limit=limit, next_cursor=str(getattr(rows[-1], key.key)))

    def _primary_key(self) -> Any:
        columns = inspect(self.model).primary_key
        if len(columns) != 1:
            raise TypeError(
                f"{self.model.__name__} has a composite primary key of {len(columns)} "
                "columns; the generic by-id operations expect exactly one"
            )
        return getattr(self.model, columns[0].key)


class TenantRepository(Repository[ModelT]):
    """Queries of one tenant-owned table, always filtered by the given tenant.

    Every statement built by ``_select``/``_update``/``_delete`` carries
    ``tenant_id == tenant.tenant_id``; ``add`` sets ``tenant_id`` from the context. The
    session must come from a unit of work opened for the same tenant (or ``system=True``):
    on PostgreSQL RLS would hide the rows otherwise, so the mismatch is refused everywhere.
    """

    def __init__(self, session: AsyncSession, tenant: TenantContext) -> None:
        if not isinstance(tenant, TenantContext):
            raise TypeError(
                f"{type(self).__name__} requires a TenantContext; received {type(tenant).__name__}"
            )
        super().__init__(session)
        self.tenant = tenant
        _check_unit_of_work_tenant(session, tenant, type(self).__name__)

    @classmethod
    def _check_model(cls, model: Any) -> None:
        _require_mapped(cls, model)
        if not is_tenant_owned(model):
            raise TypeError(
                f"{cls.__name__} needs a tenant-owned model (one that inherits TenantOwned); "
                f"received {model.__name__}, which has no tenant_id"
            )

    def _tenant_filter(self) -> ColumnElement[bool]:
        return self.model.tenant_id == self.tenant.tenant_id

    def _select(self) -> Select[ModelT]:
        return select(self.model).where(self._tenant_filter())

    def _update(self) -> Update:
        return update(self.model).where(self._tenant_filter())

    def _delete(self) -> Delete:
        return delete(self.model).where(self._tenant_filter())

    async def add(self, row: ModelT) -> ModelT:
        """Add ``row`` for this tenant and flush; refuse a row of another tenant."""
        current = getattr(row, "tenant_id", None)
        if current is not None and current != self.tenant.tenant_id:
            raise Forbidden(
                f"cannot add a {self.model.__name__} for tenant {current!r} under the "
                f"context of tenant {self.tenant.tenant_id!r}"
            )
        row.tenant_id = self.tenant.tenant_id  # type: ignore[attr-defined]
        return await super().add(row)

    async def delete(self, row: ModelT) -> None:
        """Delete ``row`` and flush; refuse a row of another tenant."""
        owner = getattr(row, "tenant_id", None)
        if owner != self.tenant.tenant_id:
            raise Forbidden(
                f"cannot delete a {self.model.__name__} of tenant {owner!r} under the "
                f"context of tenant {self.tenant.tenant_id!r}"
            )
        await super().delete(row)


def _check_unit_of_work_tenant(session: AsyncSession, tenant: TenantContext, who: str) -> None:
    # A session opened by a unit of work records its tenant. On PostgreSQL RLS would hide
    # every row of another tenant, so a mismatch is a bug; refuse it on SQLite too.
    if TENANT_INFO_KEY not in session.info or session.info.get(SYSTEM_INFO_KEY):
        return
    opened_for: TenantContext | None = session.info[TENANT_INFO_KEY]
    if opened_for is None or opened_for.tenant_id != tenant.tenant_id:
        opened_for_text = repr(opened_for.tenant_id) if opened_for else "no tenant"
        raise ValueError(
            f"{who} for tenant {tenant.tenant_id!r} needs a unit of work opened for the "
            f"same tenant (or system=True); it was opened for {opened_for_text}"
        )
