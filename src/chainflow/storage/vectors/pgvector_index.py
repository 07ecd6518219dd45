"""pgvector index: one PostgreSQL table ``vector_items`` reached through asyncpg.

``start`` makes sure the ``vector`` extension is in the database (creating it needs a
superuser; a missing package on the server is a ``ConfigurationError`` that says what to
install) and creates the table. The column is the dimensionless ``vector`` type, so each
namespace keeps its own dimension (checked on write under a per-namespace advisory lock).
Search is exact: cosine distance ``<=>`` over the namespace's rows, found through the
primary key's ``namespace`` prefix. An approximate HNSW index would need one dimension per
index; add partial indexes per namespace when one outgrows an exact scan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg
import numpy as np
import orjson
from numpy.typing import NDArray

from chainflow.core.clock import Clock
from chainflow.core.errors import ConfigurationError, DependencyUnavailable, InvalidInput
from chainflow.core.health import HealthReport
from chainflow.core.logging import redact_url
from chainflow.storage.api import VectorItem, VectorMatch
from chainflow.storage.vectors import (
    check_dimension,
    clamp_score,
    prepare_items,
    prepare_query,
    validate_namespace,
)

TABLE = "vector_items"
# First key of the two-key advisory locks this module takes (second: hashtext of a name).
LOCK_CLASS = 0x76_65_63  # "vec"
DEFAULT_TIMEOUT_S = 10.0

_CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    namespace text NOT NULL,
    id text NOT NULL,
    embedding vector NOT NULL,
    payload jsonb NOT NULL,
    ts bigint,
    PRIMARY KEY (namespace, id)
)
"""
_CREATE_TS_INDEX = f"CREATE INDEX IF NOT EXISTS {TABLE}_namespace_ts ON {TABLE} (namespace, ts)"
_DIMENSION = f"SELECT vector_dims(embedding) FROM {TABLE} WHERE namespace = $1 LIMIT 1"
_UPSERT = f"""
INSERT INTO {TABLE} (namespace, id, embedding, payload, ts)
SELECT $1, u.id, u.embedding::vector, u.payload::jsonb, u.ts
FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) AS u(id, embedding, payload, ts)
ON CONFLICT (namespace, id) DO UPDATE
SET embedding = EXCLUDED.embedding, payload = EXCLUDED.payload, ts = EXCLUDED.ts
"""
_SEARCH = f"""
SELECT id, 1 - (embedding <=> $2::text::vector) AS score, payload::text AS payload
FROM {TABLE}
WHERE namespace = $1 AND ($3::bigint IS NULL OR ts < $3::bigint)
ORDER BY embedding <=> $2::text::vector, id
LIMIT $4
"""

_UNAVAILABLE = (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)


class PgVectorIndex:
    """``storage.api.VectorIndex`` on PostgreSQL with the pgvector extension."""

    backend = "pgvector"

    def __init__(self, url: str, clock: Clock, *, max_connections: int = 10) -> None:
        scheme, sep, rest = url.partition("://")
        self._dsn = f"postgresql://{rest}" if sep and scheme.lower().startswith("postgres") else url
        self._clock = clock
        self._max_connections = max_connections
        self.safe_url = redact_url(url)
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        """Connect, ensure the extension and the table exist; idempotent."""
        if self._pool is not None:
            return
        with self._translated_errors():
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=0,
                max_size=self._max_connections,
                timeout=DEFAULT_TIMEOUT_S,
                command_timeout=DEFAULT_TIMEOUT_S,
            )
        try:
            with self._translated_errors():
                async with pool.acquire() as connection:
                    await self._ensure_schema(connection)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        """Close every pooled connection."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def health(self) -> HealthReport:
        """Run a trivial query and report the round trip in milliseconds."""
        started_s = self._clock.monotonic()
        try:
            async with self._connection() as connection:
                version = await connection.fetchval(
                    "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
                )
        except DependencyUnavailable as e:
            return HealthReport(
                name="vectors",
                ok=False,
                backend=self.backend,
                detail=e.message,
                extra={"url": self.safe_url},
            )
        return HealthReport(
            name="vectors",
            ok=version is not None,
            backend=self.backend,
            latency_ms=(self._clock.monotonic() - started_s) * 1000,
            detail=None if version is not None else "the vector extension is missing",
            extra={"url": self.safe_url, "pgvector": version},
        )

    async def upsert(self, namespace: str, items: Sequence[VectorItem]) -> int:
        """Insert or replace ``items`` in one transaction; return the distinct ids written."""
        prepared = prepare_items(namespace, items)
        if not prepared:
            return 0
        dimension = prepared[0].vector.shape[0]
        async with self._connection() as connection, connection.transaction():
            await connection.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_CLASS, namespace
            )
            existing = await connection.fetchval(_DIMENSION, namespace)
            if existing is not None:
                check_dimension(namespace, existing, dimension)
            await connection.execute(
                _UPSERT,
                namespace,
                [item.id for item in prepared],
                [_vector_text(item.vector) for item in prepared],
                [item.payload_json.decode() for item in prepared],
                [item.ts for item in prepared],
            )
        return len(prepared)

    async def search(
        self, namespace: str, vector: Sequence[float], k: int, *, before_ts: int | None = None
    ) -> list[VectorMatch]:
        """Return the ``k`` nearest items by cosine similarity, best first, ties by id."""
        query = prepare_query(namespace, vector, k, before_ts)
        async with self._connection() as connection:
            existing = await connection.fetchval(_DIMENSION, namespace)
            if existing is None:
                return []
            check_dimension(namespace, existing, query.shape[0])
            rows = await connection.fetch(_SEARCH, namespace, _vector_text(query), before_ts, k)
        return [
            VectorMatch(
                id=row["id"], score=clamp_score(row["score"]), payload=orjson.loads(row["payload"])
            )
            for row in rows
        ]

    async def delete_namespace(self, namespace: str) -> int:
        """Delete every item of ``namespace``; return how many there were."""
        validate_namespace(namespace)
        async with self._connection() as connection, connection.transaction():
            await connection.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_CLASS, namespace
            )
            status = await connection.execute(
                f"DELETE FROM {TABLE} WHERE namespace = $1", namespace
            )
        return int(status.split()[-1])

    async def count(self, namespace: str) -> int:
        """Return how many items ``namespace`` holds."""
        validate_namespace(namespace)
        async with self._connection() as connection:
            value = await connection.fetchval(
                f"SELECT count(*) FROM {TABLE} WHERE namespace = $1", namespace
            )
        return int(value)

    async def _ensure_schema(self, connection: Any) -> None:
        async with connection.transaction():
            await connection.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_CLASS, TABLE
            )
            installed = await connection.fetchval(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            )
            if installed is None:
                await self._create_extension(connection)
            await connection.execute(_CREATE_TABLE)
            await connection.execute(_CREATE_TS_INDEX)

    async def _create_extension(self, connection: Any) -> None:
        available = await connection.fetchval(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
        )
        if available is None:
            major = await connection.fetchval(
                "SELECT current_setting('server_version_num')::int / 10000"
            )
            raise ConfigurationError(
                f"the vector URL {self.safe_url!r} needs the pgvector extension, which the "
                f"PostgreSQL server does not have; install it on the server (Debian/PGDG "
                f"package postgresql-{major}-pgvector, or build pgvector from source)"
            )
        try:
            await connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except asyncpg.InsufficientPrivilegeError as e:
            raise ConfigurationError(
                f"the vector extension is not enabled in the database of {self.safe_url!r} and "
                "this role may not create it; run CREATE EXTENSION vector as a superuser"
            ) from e

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        if self._pool is None:
            raise RuntimeError("PgVectorIndex.start() must run before the index is used")
        with self._translated_errors():
            async with self._pool.acquire() as connection:
                yield connection

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except (InvalidInput, ConfigurationError):
            raise
        except _UNAVAILABLE as e:
            raise DependencyUnavailable(
                f"the vector index at {self.safe_url} is unavailable: {type(e).__name__}",
                details={"url": self.safe_url},
            ) from e


def _vector_text(vector: NDArray[np.float64]) -> str:
    return "[" + ",".join(repr(value) for value in vector.tolist()) + "]"
