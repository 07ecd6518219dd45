"""The data bridge's per-process state: one ``TenantFeed`` per tenant streaming here."""

from __future__ import annotations

from chainflow.bridge.bar_table import persist_bars
from chainflow.bridge.ingest import TenantFeed
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.bridge.validation import TickValidator, ValidationConfig
from chainflow.core.auth import Principal
from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId
from chainflow.storage.api import TimeSeriesStore

DAY_MS = 86_400_000


class BridgeService:
    """Owns the feeds; a feed's limits follow the tenant's tier when it changes."""

    def __init__(self, *, clock: Clock, store: TimeSeriesStore) -> None:
        self._clock = clock
        self._store = store
        self._feeds: dict[str, TenantFeed] = {}

    def feed_for(self, principal: Principal) -> TenantFeed:
        """Return the tenant's feed, made on its first connection."""
        limits = principal.limits
        feed = self._feeds.get(principal.tenant_id)
        if feed is None:
            config = ValidationConfig(retention_ms=limits.data_retention_days * DAY_MS)
            # Per-tenant broker aliases (EURUSD.m -> EURUSD) come from the tenant's settings
            # once they are stored; until then suffixed symbols are kept as sent.
            validator = TickValidator(config, self._clock, SymbolNormalizer())
            feed = TenantFeed(principal.tenant_id, validator, limits.ticks_per_second)
            self._feeds[principal.tenant_id] = feed
        feed.ticks_per_second = limits.ticks_per_second
        return feed

    def stats(self) -> dict[str, dict[str, int]]:
        return {tenant: dict(feed.stats) for tenant, feed in self._feeds.items()}

    def totals(self) -> dict[str, int]:
        """Return the counters summed over tenants (metrics stay low-cardinality)."""
        summed: dict[str, int] = {}
        for feed in self._feeds.values():
            for name, value in feed.stats.items():
                summed[name] = summed.get(name, 0) + value
        return summed

    async def flush_open_bars(self) -> int:
        """Persist every open bar (at shutdown), so the stored bars include the last ticks."""
        written = 0
        for tenant_id, feed in self._feeds.items():
            open_bars = feed.bars.flush()
            if open_bars:
                written += await persist_bars(self._store, TenantId(tenant_id), open_bars)
        return written
