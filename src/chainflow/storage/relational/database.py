"""The relational database: one async engine and session factory per process.

SQLite (aiosqlite) is the embedded default, PostgreSQL (asyncpg) the scaled form. The
kernel builds one ``Database`` from settings; services receive it and open a
``unit_of_work()`` at the edge (STYLE.md section 1.4).

Reads are cheap on purpose (benchmarks/http.py). A read-only unit of work connects at its
first statement, not when it opens: a route answered from a cache costs no round trip
(``read_unit_of_work``). On a SQLite file, read-only units of work draw from a pool of
their own (``sqlite_reads``: statements on the loop within a budget, ``PRAGMA
query_only``) beside the writers' aiosqlite pool, whose ``BEGIN IMMEDIATE`` makes SQLite's
one write lock the single writer; WAL lets the readers run beside it. The read pool sends
no BEGIN: each SELECT reads a snapshot of its own, as under PostgreSQL's READ COMMITTED,
so a read-only unit of work means the same on both. On PostgreSQL, asyncpg prepares each
statement once per connection (SQLAlchemy's ``prepared_statement_cache_size``) and reuses
it, and a pooled connection is pinged only after ``IDLE_PING_AFTER_S`` in the pool.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InvalidatePoolError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from chainflow.core.clock import Clock, WallClock
from chainflow.core.errors import ConfigurationError, DependencyUnavailable
from chainflow.core.health import HealthReport
from chainflow.core.logging import REDACTED, get_logger, redact_url
from chainflow.core.optional import import_optional
from chainflow.core.settings import DatabaseSettings
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational.lean_read import LeanRead, LeanReadSlots
from chainflow.storage.relational.read_unit_of_work import LazyReadSession, LazyReadUnitOfWork
from chainflow.storage.relational.sqlite_reads import ReadConnection
from chainflow.storage.relational.unit_of_work import (
    CLOCK_INFO_KEY,
    SQLITE_BEGIN_OPTION,
    TimestampingSession,
    UnitOfWork,
)

log = get_logger("chainflow.storage.relational")

DRIVER_BY_BACKEND = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
ACCEPTED_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")
SQLITE_READ_CACHE_KIB = 512
SQLITE_BUSY_TIMEOUT_MS = 10_000
APPLICATION_NAME = "chainflow"
# A pooled PostgreSQL connection idle in the pool this long is pinged before it is used.
IDLE_PING_AFTER_S = 10.0
_CHECKED_IN_AT_KEY = "chainflow.checked_in_at"


class Database:
    """The async engine and session factory of one relational database.

    Building it does no I/O: the first connection is made by ``check_connection``,
    ``health`` or the first unit of work.
    """

    def __init__(self, url: str, settings: DatabaseSettings, *, clock: Clock | None = None) -> None:
        self._url = _normalised_url(url)
        self._settings = settings
        self._clock: Clock = clock or WallClock()
        self._warned_about_rls_bypass = False
        self._lean_read_slots = LeanReadSlots(settings.pool_size)
        self.engine: AsyncEngine = (
            self._create_sqlite_engine()
            if self.dialect == "sqlite"
            else self._create_postgresql_engine()
        )
        self.read_engine: AsyncEngine = (
            self._create_sqlite_read_engine() if self._is_sqlite_file else self.engine
        )
        self._sessionmaker = async_sessionmaker(
            self.engine,
            class_=AsyncSession,
            sync_session_class=TimestampingSession,
            expire_on_commit=False,
            info={CLOCK_INFO_KEY: self._clock},
        )
        self._read_sessionmaker = async_sessionmaker(
            self.read_engine,
            class_=AsyncSession,
            sync_session_class=LazyReadSession,
            expire_on_commit=False,
            info={CLOCK_INFO_KEY: self._clock},
        )

    @property
    def dialect(self) -> str:
        """Return the backend name: ``"sqlite"`` or ``"postgresql"``."""
        return self._url.get_backend_name()

    @property
    def redacted_url(self) -> str:
        """Return the URL with its password replaced by ``***``, safe for logs and errors."""
        return self._url.render_as_string(hide_password=True)

    def unit_of_work(
        self,
        tenant: TenantContext | None = None,
        *,
        system: bool = False,
        read_only: bool = False,
    ) -> UnitOfWork:
        """Return a unit of work to use as ``async with database.unit_of_work(tenant) as uow``.

        ``tenant`` scopes the transaction to one tenant (PostgreSQL RLS sees its rows
        only). ``system=True`` lets a cross-tenant system job (login by email, schedulers)
        see every tenant's rows; pass it explicitly and only there. ``read_only=True`` is
        for routes that only read: on SQLite it does not take the write lock, so reads run
        beside a writer; it ends in a rollback and refuses ``after_commit``.
        """
        if tenant is not None and not isinstance(tenant, TenantContext):
            raise TypeError(
                f"tenant must be a TenantContext or None; received {type(tenant).__name__}"
            )
        if read_only:
            return LazyReadUnitOfWork(
                self._read_sessionmaker,
                dialect=self.dialect,
                tenant=tenant,
                system=system,
                read_only=True,
            )
        return UnitOfWork(
            self._sessionmaker,
            dialect=self.dialect,
            tenant=tenant,
            system=system,
            read_only=read_only,
        )

    def lean_read(self, tenant: TenantContext | None = None, *, system: bool = False) -> LeanRead:
        """Return a lean read-only unit of work: ``async with database.lean_read(tenant) as
        read: rows = await read.fetch(STATEMENT, {...})``.

        For a hot read of a few fixed ``ReadStatement``s with no ORM object (``lean_read``):
        the read pool's connection without a session; ``tenant`` and ``system`` mean what
        they mean for ``unit_of_work`` (on PostgreSQL, RLS sees the tenant's rows only).
        """
        if tenant is not None and not isinstance(tenant, TenantContext):
            raise TypeError(
                f"tenant must be a TenantContext or None; received {type(tenant).__name__}"
            )
        return LeanRead(self.read_engine, tenant=tenant, system=system, slots=self._lean_read_slots)

    async def check_connection(self) -> None:
        """Connect once; raise ``DependencyUnavailable`` naming the URL when unreachable.

        On PostgreSQL, log a warning once when the connected role bypasses row-level
        security (a superuser or a ``BYPASSRLS`` role).
        """
        bypasses_rls, role = False, None
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                if self.dialect == "postgresql":
                    bypasses_rls = await _role_bypasses_rls(connection)
                    role = await connection.scalar(text("SELECT current_user"))
        except Exception as e:
            raise DependencyUnavailable(self._unreachable_message(e)) from e
        if bypasses_rls and not self._warned_about_rls_bypass:
            self._warned_about_rls_bypass = True
            log.warning(
                "database_role_bypasses_row_level_security",
                role=role,
                url=self.redacted_url,
                hint="connect as a role without SUPERUSER or BYPASSRLS so RLS is enforced",
            )

    async def health(self) -> HealthReport:
        """Run ``SELECT 1`` and report latency, backend, redacted URL and RLS enforcement."""
        extra: dict[str, Any] = {"url": self.redacted_url}
        started = time.perf_counter()
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                latency_ms = (time.perf_counter() - started) * 1000
                if self.dialect == "postgresql":
                    extra["rls_enforced"] = not await _role_bypasses_rls(connection)
        except Exception as e:
            return HealthReport(
                name="database",
                ok=False,
                backend=self.dialect,
                detail=self._unreachable_message(e),
                extra=extra,
            )
        return HealthReport(
            name="database", ok=True, backend=self.dialect, latency_ms=latency_ms, extra=extra
        )

    async def dispose(self) -> None:
        """Close every pooled connection."""
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
        await self.engine.dispose()

    # --- engines -----------------------------------------------------------------------

    def _create_postgresql_engine(self) -> AsyncEngine:
        # SQLAlchemy imports the driver while building the engine: check it first, so a
        # base install names the extra instead of failing with a bare ModuleNotFoundError.
        purpose = f"database URL {self.redacted_url!r}"
        import_optional("asyncpg", extra="postgres", purpose=purpose)
        settings = self._settings
        engine = create_async_engine(
            self._url,
            echo=settings.echo,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout_s,
            pool_recycle=settings.pool_recycle_s,
            connect_args={
                "timeout": settings.connect_timeout_s,
                "server_settings": {"application_name": APPLICATION_NAME},
            },
        )
        _ping_idle_connections(engine, IDLE_PING_AFTER_S)
        return engine

    @property
    def _is_sqlite_file(self) -> bool:
        """A SQLite file named by a plain path (URI forms keep the one aiosqlite pool)."""
        if self.dialect != "sqlite":
            return False
        path = self._url.database or ""
        return path not in ("", ":memory:") and not path.startswith("file:")

    def _create_sqlite_read_engine(self) -> AsyncEngine:
        settings = self._settings
        path = str(Path(self._url.database or "").expanduser())
        # Idle workers cost nothing; they end with the process. Reads beyond the workers
        # queue for one, as they would for a connection.
        executor = ThreadPoolExecutor(
            max_workers=min(settings.pool_size, 4), thread_name_prefix="chainflow-sqlite-read"
        )

        async def connect() -> ReadConnection:
            Path(path).resolve().parent.mkdir(parents=True, exist_ok=True)
            timeout_s = SQLITE_BUSY_TIMEOUT_MS / 1000
            return await ReadConnection.open(path, timeout_s=timeout_s, executor=executor)

        engine = create_async_engine(
            self._url,
            echo=settings.echo,
            async_creator=connect,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout_s,
        )
        self._configure_sqlite(engine, in_memory=False, read_only=True)
        return engine

    def _create_sqlite_engine(self) -> AsyncEngine:
        database_path = self._url.database or ""
        in_memory = database_path in ("", ":memory:") or database_path.startswith("file::memory")
        pool_options: dict[str, Any] = (
            {}
            if in_memory
            else {
                "pool_size": self._settings.pool_size,
                "max_overflow": self._settings.max_overflow,
                "pool_timeout": self._settings.pool_timeout_s,
            }
        )
        engine = create_async_engine(
            self._url,
            echo=self._settings.echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **pool_options,
        )

        @event.listens_for(engine.sync_engine, "do_connect")
        def create_parent_directory(*_: Any) -> None:
            if not in_memory:
                Path(database_path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)

        self._configure_sqlite(engine, in_memory=in_memory, read_only=False)
        return engine

    def _configure_sqlite(self, engine: AsyncEngine, *, in_memory: bool, read_only: bool) -> None:
        sync_engine = engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def configure_connection(dbapi_connection: Any, _record: Any) -> None:
            # SQLAlchemy emits BEGIN itself (below), so SELECTs and DDL are transactional.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                if not in_memory:
                    cursor.execute("PRAGMA journal_mode=WAL")
                    cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                if read_only:
                    cursor.execute("PRAGMA query_only=ON")
                    # A small page cache per read connection (the OS caches the file): the
                    # read pool must not add megabytes per connection to a bulk export.
                    cursor.execute(f"PRAGMA cache_size=-{SQLITE_READ_CACHE_KIB}")
            finally:
                cursor.close()

        if read_only:
            # No BEGIN: each SELECT reads one snapshot of its own, as under PostgreSQL's
            # READ COMMITTED, and a read costs no BEGIN and no ROLLBACK.
            return

        @event.listens_for(sync_engine, "begin")
        def begin_transaction(connection: Any) -> None:
            # A unit of work takes the write lock up front (IMMEDIATE): a deferred
            # transaction that reads and then writes fails with SQLITE_BUSY under WAL
            # when another writer committed in between, and no busy timeout helps then.
            mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
            connection.exec_driver_sql(f"BEGIN {mode}")

    def _unreachable_message(self, error: BaseException) -> str:
        reason = _driver_error_text(error)
        password = self._url.password
        if password:
            reason = reason.replace(str(password), REDACTED)
        return f"database {self.redacted_url} is unreachable: {reason}"


async def _role_bypasses_rls(connection: AsyncConnection) -> bool:
    bypasses = await connection.scalar(
        text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
    )
    return bool(bypasses)


def _driver_error_text(error: BaseException) -> str:
    adapted = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    driver_error = adapted.__cause__ or adapted
    return f"{type(driver_error).__name__}: {str(driver_error).strip() or 'no detail'}"


def _normalised_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise ConfigurationError(
            f"database URL {redact_url(url)} is not a valid URL; expected a URL with one of "
            f"the schemes {', '.join(ACCEPTED_SCHEMES)}"
        ) from e
    backend, _, driver = parsed.drivername.partition("+")
    backend = "postgresql" if backend == "postgres" else backend
    expected_driver = DRIVER_BY_BACKEND.get(backend)
    if expected_driver is None or driver not in ("", expected_driver):
        raise ConfigurationError(
            f"database URL {redact_url(url)} has the unsupported scheme "
            f"{parsed.drivername!r}; expected one of {', '.join(ACCEPTED_SCHEMES)}"
        )
    return parsed.set(drivername=f"{backend}+{expected_driver}")


def _ping_idle_connections(engine: AsyncEngine, idle_s: float) -> None:
    """Ping a pooled connection before use only if it sat in the pool ``idle_s`` or more.

    ``pool_pre_ping`` pings at every checkout: with asyncpg three round trips (BEGIN, the
    ping, ROLLBACK) for a read of four, most of a read's time on PostgreSQL
    (benchmarks/http.py). A connection in steady use was just used; one that sat idle is
    where a restarted server or a dropped link shows, and is pinged as before. A failed
    ping discards every pooled connection older than now and the pool connects afresh;
    a connection lost while in use fails that one statement, and SQLAlchemy discards the
    pool the same way (``pool_recycle`` still retires old ones).
    """
    pool_events = engine.sync_engine.pool

    @event.listens_for(pool_events, "checkin")
    def note_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_CHECKED_IN_AT_KEY] = time.monotonic()

    @event.listens_for(pool_events, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT_KEY)
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as e:
            raise InvalidatePoolError(f"idle connection failed its ping: {e}") from e
