"""Time-series store backends: DuckDB (embedded default), ClickHouse, chDB, PostgreSQL.

``open_timeseries`` picks the backend from the URL scheme; the kernel calls it once per
process and then ``await store.start()``. Backends import their optional packages only
when opened, so importing this package needs nothing beyond the core dependencies.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from chainflow.core.errors import ConfigurationError
from chainflow.core.logging import redact_url
from chainflow.core.optional import load_backend
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import TimeSeriesStore

ACCEPTED_SCHEMES = (
    "duckdb",
    "clickhouse",
    "clickhouses",
    "chdb",
    "postgresql",
    "postgres",
    "postgresql+asyncpg",
)
_URL_FORMS = (
    "duckdb:///abs/path.duckdb (or duckdb:///:memory:), "
    "clickhouse://user:password@host:8123/database (clickhouses:// for TLS), "
    "chdb:///abs/dir, "
    "postgresql://user:password@host:5432/database?schema=timeseries"
)


def open_timeseries(url: str, settings: TimeSeriesSettings) -> TimeSeriesStore:
    """Build the time-series store ``url`` names; the caller starts and closes it.

    Raise ``ConfigurationError`` for an unknown scheme or a malformed URL; the message
    names the URL with its password redacted and the accepted forms.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("duckdb", "chdb"):
        path = _local_path(url, scheme)
        if scheme == "duckdb":
            from chainflow.storage.timeseries.duckdb_store import DuckDBTimeSeriesStore

            return DuckDBTimeSeriesStore(path, settings)
        from chainflow.storage.timeseries.clickhouse_executor import ChdbExecutor
        from chainflow.storage.timeseries.clickhouse_store import ClickHouseTimeSeriesStore

        return ClickHouseTimeSeriesStore(ChdbExecutor(path), settings)
    if scheme in ("clickhouse", "clickhouses"):
        from chainflow.storage.timeseries.clickhouse_executor import ClickHouseConnectExecutor
        from chainflow.storage.timeseries.clickhouse_store import ClickHouseTimeSeriesStore

        return ClickHouseTimeSeriesStore(ClickHouseConnectExecutor(url), settings)
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        from chainflow.storage.timeseries.postgres_config import parse_postgres_url

        config = parse_postgres_url(url)
        store_class = load_backend(
            "chainflow.storage.timeseries.postgres_store",
            "PostgresTimeSeriesStore",
            library="asyncpg",
            extra="postgres",
            purpose=f"time-series URL {config.location!r}",
        )
        store: TimeSeriesStore = store_class(config, settings)
        return store
    raise ConfigurationError(
        f"unsupported time-series URL {redact_url(url)!r}: expected one of the schemes "
        f"{', '.join(s + '://' for s in ACCEPTED_SCHEMES)}, as in {_URL_FORMS}",
        details={"url": redact_url(url), "accepted_schemes": list(ACCEPTED_SCHEMES)},
    )


def _local_path(url: str, scheme: str) -> str:
    parts = urlsplit(url)
    if parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            f"expected {scheme}:/// followed by an absolute path (three slashes, no host or "
            f"query); received {redact_url(url)!r}"
        )
    if parts.path == "/:memory:":
        return ":memory:"
    if not parts.path.startswith("/") or parts.path == "/":
        raise ConfigurationError(
            f"expected {scheme}:///<absolute path>; received {redact_url(url)!r}"
        )
    return unquote(parts.path)
