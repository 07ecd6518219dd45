"""The PostgreSQL time-series URL: where to connect, and the store's own options.

``postgresql://user:password@host:5432/database?schema=timeseries&partition=month&pool_size=10``
(also ``postgres://`` and ``postgresql+asyncpg://``, so the relational URL can be reused
with another schema). ``schema`` (default ``timeseries``) is created if missing;
``partition`` is ``month`` (default) or ``day``; ``pool_size`` bounds the connections.
Every other query parameter (``sslmode``, ``sslrootcert``, ...) goes to asyncpg unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from chainflow.core.errors import ConfigurationError, InvalidInput
from chainflow.core.logging import redact_url
from chainflow.storage.timeseries.postgres_partitions import Granularity
from chainflow.storage.timeseries.tables import validate_identifier

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")
DEFAULT_SCHEMA = "timeseries"
DEFAULT_POOL_SIZE = 10
_MAX_POOL_SIZE = 200


@dataclass(frozen=True, slots=True)
class PostgresTimeSeriesConfig:
    """A parsed time-series URL: the asyncpg DSN and the store's options."""

    dsn: str
    location: str  # the URL with its password redacted, for messages
    schema: str = DEFAULT_SCHEMA
    granularity: Granularity = Granularity.MONTH
    pool_size: int = DEFAULT_POOL_SIZE


def parse_postgres_url(url: str) -> PostgresTimeSeriesConfig:
    """Return the config ``url`` names; raise ``ConfigurationError`` naming what is wrong."""
    location = redact_url(url)
    parts = urlsplit(url)
    if parts.scheme.lower() not in POSTGRES_SCHEMES or not parts.hostname:
        raise ConfigurationError(
            "expected a PostgreSQL URL like postgresql://user:password@host:5432/database"
            f"?schema=timeseries; received {location!r}"
        )
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    schema = options.pop("schema", DEFAULT_SCHEMA)
    granularity = options.pop("partition", Granularity.MONTH.value)
    pool_size = options.pop("pool_size", str(DEFAULT_POOL_SIZE))
    try:
        validate_identifier(schema, what="schema")
    except InvalidInput as e:
        raise ConfigurationError(f"time-series URL {location!r}: {e}") from e
    if granularity not in {g.value for g in Granularity}:
        raise ConfigurationError(
            f"time-series URL {location!r}: partition must be one of "
            f"{[g.value for g in Granularity]}; received {granularity!r}"
        )
    if not pool_size.isdigit() or not 1 <= int(pool_size) <= _MAX_POOL_SIZE:
        raise ConfigurationError(
            f"time-series URL {location!r}: pool_size must be an integer from 1 to "
            f"{_MAX_POOL_SIZE}; received {pool_size!r}"
        )
    dsn = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(options), ""))
    return PostgresTimeSeriesConfig(
        dsn=dsn,
        location=location,
        schema=schema,
        granularity=Granularity(granularity),
        pool_size=int(pool_size),
    )
