"""Run the Alembic migrations from inside the application's event loop.

``chainflow db upgrade`` (and ``serve`` on the embedded default) imports every enabled
service's ``models`` module, then calls ``upgrade(url)``. The Alembic environment lives in
``chainflow/storage/migrations`` and reads only ``Base.metadata``; the URL is handed to it
through ``Config.attributes``, never read from an ini file.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from chainflow.core.settings import DatabaseSettings
from chainflow.storage.errors import MigrationsMissingError
from chainflow.storage.relational.database import Database

MIGRATIONS_DIRECTORY = Path(__file__).resolve().parent.parent / "migrations"
CONNECTION_ATTRIBUTE = "connection"
DATABASE_URL_ATTRIBUTE = "database_url"
# One advisory lock key, so two processes never migrate the same PostgreSQL at once.
MIGRATION_LOCK_KEY = zlib.crc32(b"chainflow.storage.migrations")


def alembic_config(database_url: str | None = None) -> Config:
    """Return an Alembic ``Config`` for ChainFlow's migrations, built without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if database_url is not None:
        config.attributes[DATABASE_URL_ATTRIBUTE] = database_url
    return config


def head_revision() -> str:
    """Return the newest revision of the migration scripts."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise MigrationsMissingError(
            f"expected migration scripts in {MIGRATIONS_DIRECTORY}; found none"
        )
    return head


async def upgrade(
    database_url: str, revision: str = "head", *, settings: DatabaseSettings | None = None
) -> None:
    """Upgrade the database at ``database_url`` to ``revision``, in one transaction.

    Safe to call from a running event loop and safe to repeat: an up-to-date database is
    left as it is. On PostgreSQL an advisory lock serialises concurrent upgrades.
    """
    config = alembic_config(database_url)
    database = Database(database_url, settings or DatabaseSettings(url=database_url))
    try:
        async with database.engine.begin() as connection:
            if database.dialect == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            await connection.run_sync(_upgrade_on, config, revision)
    finally:
        await database.dispose()


async def current_revision(
    database_url: str, *, settings: DatabaseSettings | None = None
) -> str | None:
    """Return the revision the database is at, or ``None`` before the first migration."""
    database = Database(database_url, settings or DatabaseSettings(url=database_url))
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(_current_revision_on)
    finally:
        await database.dispose()


def _upgrade_on(connection: Connection, config: Config, revision: str) -> None:
    config.attributes[CONNECTION_ATTRIBUTE] = connection
    command.upgrade(config, revision)


def _current_revision_on(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
