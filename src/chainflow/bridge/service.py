"""The data bridge's per-process state: one ``TenantFeed`` per tenant streaming here."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from chainflow.bridge.bar_table import persist_bars
from chainflow.bridge.events import aliases_changed_topic, all_aliases_changed
from chainflow.bridge.ingest import TenantFeed
from chainflow.bridge.repository import SymbolAliasRepository
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.bridge.validation import TickValidator, ValidationConfig
from chainflow.core.auth import Principal
from chainflow.core.clock import Clock
from chainflow.core.errors import InvalidInput
from chainflow.core.ids import TenantId
from chainflow.core.settings import BridgeSettings
from chainflow.core.tenancy import TenantContext
from chainflow.hub.api import BusMessage, EventBus, Subscription
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.relational import Database

DAY_MS = 86_400_000
MAX_ALIASES = 500
ALIAS_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._#+\-]{0,39}$")


class BridgeService:
    """Owns the feeds; a feed's limits follow the tenant's tier, its aliases the table."""

    def __init__(
        self,
        *,
        clock: Clock,
        store: TimeSeriesStore,
        database: Database,
        bus: EventBus,
        settings: BridgeSettings | None = None,
    ) -> None:
        self._settings = settings or BridgeSettings()
        self._clock = clock
        self._store = store
        self._database = database
        self._bus = bus
        self._feeds: dict[str, TenantFeed] = {}
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        # Every process follows alias changes made anywhere (live fan-out, not a queue).
        self._subscription = await self._bus.subscribe(
            all_aliases_changed(), self.on_aliases_changed
        )

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        await self.flush_open_bars()

    async def feed_for(self, principal: Principal) -> TenantFeed:
        """Return the tenant's feed, made (with its alias table) on its first connection."""
        limits = principal.limits
        feed = self._feeds.get(principal.tenant_id)
        if feed is None:
            retention_ms = limits.data_retention_days * DAY_MS
            config = ValidationConfig.from_settings(self._settings, retention_ms)
            normalizer = SymbolNormalizer(await self.aliases(principal.tenant))
            validator = TickValidator(config, self._clock, normalizer)
            feed = self._feeds.setdefault(
                principal.tenant_id,
                TenantFeed(principal.tenant_id, validator, limits.ticks_per_second),
            )
        feed.ticks_per_second = limits.ticks_per_second
        feed.tier = principal.tier.value
        return feed

    async def aliases(self, tenant: TenantContext) -> dict[str, str]:
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            return await SymbolAliasRepository(uow.session, tenant).as_mapping()

    async def replace_aliases(
        self, tenant: TenantContext, aliases: Mapping[str, str]
    ) -> dict[str, str]:
        """Validate and store the tenant's whole alias table; every process then uses it."""
        if len(aliases) > MAX_ALIASES:
            raise InvalidInput(f"expected at most {MAX_ALIASES} aliases; received {len(aliases)}")
        for alias in aliases:
            if not ALIAS_PATTERN.fullmatch(alias):
                raise InvalidInput(
                    f"expected a broker symbol matching {ALIAS_PATTERN.pattern}; "
                    f"received {alias[:40]!r}"
                )
        table = dict(SymbolNormalizer(aliases).aliases)  # validates and folds the targets
        async with self._database.unit_of_work(tenant) as uow:
            await SymbolAliasRepository(uow.session, tenant).replace_all(table)
            body = json.dumps({"tenant_id": tenant.tenant_id}).encode()
            topic = aliases_changed_topic(tenant.tenant_id)
            uow.after_commit(lambda: self._bus.publish(topic, body))
        return table

    async def on_aliases_changed(self, message: BusMessage) -> None:
        tenant_id = json.loads(message.data)["tenant_id"]
        feed = self._feeds.get(tenant_id)
        if feed is not None:
            tenant = TenantContext(tenant_id=TenantId(tenant_id))
            feed.validator.use_normalizer(SymbolNormalizer(await self.aliases(tenant)))

    async def flush_open_bars(self) -> int:
        """Persist every open bar (at shutdown), so the stored bars include the last ticks."""
        written = 0
        for tenant_id, feed in self._feeds.items():
            open_bars = feed.bars.flush()
            if open_bars:
                written += await persist_bars(self._store, TenantId(tenant_id), open_bars)
        return written

    def stored_by_tier(self) -> dict[str, int]:
        """Return the ticks stored per tenant tier (the tier at each tenant's last connection)."""
        by_tier: dict[str, int] = {}
        for feed in self._feeds.values():
            tier = feed.tier or "unknown"
            by_tier[tier] = by_tier.get(tier, 0) + feed.stats.get("ticks_stored", 0)
        return by_tier

    def totals(self) -> dict[str, int]:
        """Return the counters summed over tenants (metrics stay low-cardinality)."""
        summed: dict[str, int] = {}
        for feed in self._feeds.values():
            for name, value in feed.stats.items():
                summed[name] = summed.get(name, 0) + value
        return summed
