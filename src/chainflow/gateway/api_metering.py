"""API-call metering: authenticated REST calls per tenant per UTC day, persisted for billing.

A call counts when the rate limiter admits it (``MeteredRateLimiter``): authenticated, within
the tenant's quota. Counting is one dict update on the request path (no I/O, no lock: the
event loop runs one request's code at a time); a background task appends the counts to
the ``api_usage`` time-series table every ``FLUSH_INTERVAL_S`` and at shutdown, as the
bridge meters ticks (``bridge.usage``). A day's total is the sum of its rows, so gateway
processes and restarts simply add rows. Counts not yet flushed when a process dies are
lost (at most one interval's worth), the price of keeping the database off the request path.
"""

from __future__ import annotations

from collections import defaultdict

from chainflow.core.auth import Principal
from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId
from chainflow.core.periodic import Periodic
from chainflow.gateway.rate_limit import RateLimiter, RateLimitState
from chainflow.storage.api import Cache, ColumnSpec, ColumnType, TableSpec, TimeSeriesStore

DAY_MS = 86_400_000
FLUSH_INTERVAL_S = 10.0
ALL_ROUTES = "*"  # the table's symbol column: calls are counted per tenant, not per route
API_USAGE_TABLE = TableSpec("api_usage", (ColumnSpec("calls", ColumnType.INT64),))


class ApiCallMeter:
    """Count calls per (tenant, day) in memory; ``flush`` appends the counts to the store.

    The flush task starts with the first call counted, so a process that serves no REST
    call (a CLI tool) never starts one; ``stop`` flushes what is left.
    """

    def __init__(
        self, *, store: TimeSeriesStore, clock: Clock, interval_s: float = FLUSH_INTERVAL_S
    ) -> None:
        self._store = store
        self._clock = clock
        self._pending: defaultdict[tuple[str, int], int] = defaultdict(int)
        self._flusher = Periodic("gateway.flush_api_calls", interval_s, self.flush)
        self._stopped = False

    def record(self, tenant_id: str) -> None:
        """Count one call of ``tenant_id`` today (UTC)."""
        day = self._clock.now_ms() // DAY_MS * DAY_MS
        self._pending[(tenant_id, day)] += 1
        if not self._flusher.running and not self._stopped:
            self._flusher.start()

    @property
    def pending(self) -> int:
        """Return how many counted calls are not flushed yet."""
        return sum(self._pending.values())

    async def flush(self) -> int:
        """Persist the pending counts; return how many rows were written."""
        pending, self._pending = self._pending, defaultdict(int)
        if not pending:
            return 0
        rows = [
            {"tenant_id": tenant, "symbol": ALL_ROUTES, "ts": day, "calls": calls}
            for (tenant, day), calls in pending.items()
        ]
        await self._store.ensure_table(API_USAGE_TABLE)
        return await self._store.append(API_USAGE_TABLE.name, rows)

    async def stop(self) -> None:
        """Stop the flush task and flush what is left."""
        self._stopped = True
        await self._flusher.stop()
        await self.flush()


async def count_api_calls(
    store: TimeSeriesStore, tenant_id: str, start_ms: int, end_ms: int
) -> int:
    """Return the flushed calls of ``tenant_id`` on the UTC days in ``[start_ms, end_ms)``."""
    await store.ensure_table(API_USAGE_TABLE)
    rows = await store.scan(
        API_USAGE_TABLE.name,
        tenant_id=TenantId(tenant_id),
        symbol=ALL_ROUTES,
        start_ms=start_ms,
        end_ms=end_ms,
    )
    return sum(int(row["calls"]) for row in rows)


class MeteredRateLimiter(RateLimiter):
    """The REST rate limiter, also counting each call it admits in an ``ApiCallMeter``."""

    def __init__(self, cache: Cache, meter: ApiCallMeter) -> None:
        super().__init__(cache)
        self.meter = meter

    async def check(self, principal: Principal) -> RateLimitState:
        state = await super().check(principal)
        self.meter.record(principal.tenant_id)
        return state
