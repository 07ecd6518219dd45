"""The principal the bridge's ingestion tests connect as."""

from __future__ import annotations

from chainflow.core.auth import TIER_LIMITS, Principal, Role, Scope, Tier
from chainflow.core.ids import TenantId, UserId


def ticks_writer(tenant_id: str) -> Principal:
    """An enterprise tenant's trader, authenticated by an API key that may stream ticks."""
    return Principal(
        UserId("u1"),
        TenantId(tenant_id),
        Role.TRADER,
        Tier.ENTERPRISE,
        TIER_LIMITS[Tier.ENTERPRISE],
        frozenset({Scope.TICKS_WRITE}),
        "api_key",
        api_key_id="k1",
    )
