"""Alembic environment: async, reads only ``Base.metadata``, never a URL from an ini file.

Called two ways:
- by ``chainflow.storage.relational.upgrade()``, which passes an open connection in
  ``config.attributes["connection"]`` (the application's event loop is already running);
- by the plain ``alembic`` command of a developer (repo-root ``alembic.ini``). The URL then
  comes from ``config.attributes["database_url"]`` or ``CHAINFLOW_DATABASE_URL`` (the same
  default SQLite file as the application otherwise), and the modules named by the ini's
  ``model_modules`` option are imported so that ``--autogenerate`` sees every table.
"""

from __future__ import annotations

import asyncio
import importlib
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from chainflow.core.settings import DatabaseSettings, Settings
from chainflow.storage.relational.base import Base
from chainflow.storage.relational.database import Database

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return str(url)
    return DatabaseSettings().url or Settings().database_url


def import_model_modules() -> None:
    for module in (config.get_main_option("model_modules") or "").split():
        importlib.import_module(module)


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    database = Database(database_url(), DatabaseSettings())
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await database.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    asyncio.run(run_async_migrations())


if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
    import_model_modules()

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
