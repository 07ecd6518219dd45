"""The relational database: one async engine and session factory per process.

SQLite (aiosqlite) is the embedded default, PostgreSQL (asyncpg) the scaled form. The
kernel builds one ``Database`` from settings; services receive it and open a
``unit_of_work()`` at the edge (STYLE.md section 1.4).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
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
from chainflow.storage.relational.unit_of_work import (
    CLOCK_INFO_KEY,
    SQLITE_BEGIN_OPTION,
    TimestampingSession,
    UnitOfWork,
)

log = get_logger("chainflow.storage.relational")

DRIVER_BY_BACKEND = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
ACCEPTED_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")
SQLITE_BUSY_TIMEOUT_MS = 10_000
APPLICATION_NAME = "chainflow"


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
        self.engine: AsyncEngine = (
            self._create_sqlite_engine()
            if self.dialect == "sqlite"
            else self._create_postgresql_engine()
        )
        self._sessionmaker = async_sessionmaker(
            self.engine,
            class_=AsyncSession,
            sync_session_class=TimestampingSession,
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
        return UnitOfWork(
            self._sessionmaker,
            dialect=self.dialect,
            tenant=tenant,
            system=system,
            read_only=read_only,
        )

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
        await self.engine.dispose()

    # --- engines -----------------------------------------------------------------------

    def _create_postgresql_engine(self) -> AsyncEngine:
        # SQLAlchemy imports the driver while building the engine: check it first, so a
        # base install names the extra instead of failing with a bare ModuleNotFoundError.
        purpose = f"database URL {self.redacted_url!r}"
        import_optional("asyncpg", extra="postgres", purpose=purpose)
        settings = self._settings
        return create_async_engine(
            self._url,
            echo=settings.echo,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout_s,
            pool_recycle=settings.pool_recycle_s,
            pool_pre_ping=True,
            connect_args={
                "timeout": settings.connect_timeout_s,
                "server_settings": {"application_name": APPLICATION_NAME},
            },
        )

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
        sync_engine = engine.sync_engine

        @event.listens_for(sync_engine, "do_connect")
        def create_parent_directory(*_: Any) -> None:
            if not in_memory:
                Path(database_path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)

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
            finally:
                cursor.close()

        @event.listens_for(sync_engine, "begin")
        def begin_transaction(connection: Any) -> None:
            # A unit of work takes the write lock up front (IMMEDIATE): a deferred
            # transaction that reads and then writes fails with SQLITE_BUSY under WAL
            # when another writer committed in between, and no busy timeout helps then.
            mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
            connection.exec_driver_sql(f"BEGIN {mode}")

        return engine

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
