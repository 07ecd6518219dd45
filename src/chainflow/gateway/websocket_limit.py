"""Per-tenant limits on open WebSocket connections, counted in the shared cache.

A plain counter (+1 on open, -1 on close) leaks a slot for every process that dies with
connections open. A TTL on the counter bounds the leak, but a TTL that expires while
connections stay open resets the count and lets the tenant open more than its limit.

So connections have a maximum lifetime (the WebSocket handler closes them after
``max_connection_lifetime_s``; clients reconnect), and counters are kept per window of that
length: a connection is counted in the window it opened in, and the open connections are
the current window's count plus the previous one's, since no connection outlives two
windows. Each window's counter expires after two windows. The trade-offs: the count is
exact only while the lifetime is enforced; a crashed process's slots are freed after at
most two windows rather than at once; and an open costs two cache round trips.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainflow.core.auth import Principal
from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId
from chainflow.gateway.errors import WebSocketLimitError
from chainflow.storage.api import Cache

DEFAULT_MAX_CONNECTION_LIFETIME_S = 3600.0
# Counters outlive their second window by this much, for clock skew between processes.
COUNTER_EXPIRY_MARGIN_S = 60.0


@dataclass(slots=True)
class WebSocketSlot:
    """One open connection's place in its tenant's count; give it back with ``release``."""

    tenant_id: TenantId
    counter_key: str
    is_released: bool = False


class WebSocketLimiter:
    """Admit a tenant's WebSocket connections up to its tier's ``websocket_connections``."""

    def __init__(
        self,
        cache: Cache,
        clock: Clock,
        *,
        max_connection_lifetime_s: float = DEFAULT_MAX_CONNECTION_LIFETIME_S,
    ) -> None:
        if not max_connection_lifetime_s > 0:
            raise ValueError(
                "max_connection_lifetime_s must be positive; received "
                f"{max_connection_lifetime_s!r}"
            )
        self._cache = cache
        self._clock = clock
        self._window_ms = max(1, round(max_connection_lifetime_s * 1000))
        self._counter_ttl_s = 2 * max_connection_lifetime_s + COUNTER_EXPIRY_MARGIN_S

    @property
    def max_connection_lifetime_s(self) -> float:
        """How long a connection may stay open; the WebSocket handler must close it then."""
        return self._window_ms / 1000

    async def acquire(self, principal: Principal) -> WebSocketSlot:
        """Count one more open connection of the tenant; raise ``WebSocketLimitError`` if full."""
        limit = principal.limits.websocket_connections
        if limit <= 0:
            raise WebSocketLimitError(
                f"tier {principal.tier.value!r} must allow WebSocket connections to open one; "
                "it allows 0",
                details={"limit": 0},
            )
        window = self._clock.now_ms() // self._window_ms
        counter_key = self._counter_key(principal.tenant_id, window)
        opened = await self._cache.incr(counter_key, 1, ttl_s=self._counter_ttl_s)
        previous_raw = await self._cache.get(self._counter_key(principal.tenant_id, window - 1))
        still_open = max(0, int(previous_raw)) if previous_raw else 0
        count = max(0, opened) + still_open
        if count > limit:
            await self._cache.incr(counter_key, -1, ttl_s=self._counter_ttl_s)
            raise WebSocketLimitError(
                f"tier {principal.tier.value!r} allows at most {limit} open WebSocket "
                f"connections per tenant; this one would have been number {count}",
                details={"limit": limit, "open": count - 1},
            )
        return WebSocketSlot(tenant_id=principal.tenant_id, counter_key=counter_key)

    async def release(self, slot: WebSocketSlot) -> None:
        """Give back the slot of a closed connection; releasing twice does nothing."""
        if slot.is_released:
            return
        slot.is_released = True
        await self._cache.incr(slot.counter_key, -1, ttl_s=self._counter_ttl_s)

    async def open_connections(self, tenant_id: TenantId) -> int:
        """Return how many connections of ``tenant_id`` are counted as open."""
        window = self._clock.now_ms() // self._window_ms
        total = 0
        for counted_window in (window, window - 1):
            raw = await self._cache.get(self._counter_key(tenant_id, counted_window))
            total += max(0, int(raw)) if raw else 0
        return total

    @staticmethod
    def _counter_key(tenant_id: TenantId, window: int) -> str:
        return f"ws:conn:{tenant_id}:{window}"
