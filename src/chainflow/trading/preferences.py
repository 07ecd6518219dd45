"""Where the trading engine gets a tenant's trading preferences.

The settings belong to the users service, a layer above; the engine asks through this
interface, which the runtime implements over bus request/reply (``runtime.remote``) with a
short cache, so a change made in the API applies within ``ttl_s``. Without an answer (users
unreachable) a tenant gets the defaults: moderate risk, every symbol.
"""

from __future__ import annotations

from typing import Protocol

from chainflow.trading.decision.synthesis import TradingPreferences


class TradingPreferencesSource(Protocol):
    async def preferences(self, tenant_id: str) -> TradingPreferences: ...


class DefaultPreferences:
    """Every tenant gets ``TradingPreferences()`` (used when no users service is wired)."""

    async def preferences(self, tenant_id: str) -> TradingPreferences:
        return TradingPreferences()
