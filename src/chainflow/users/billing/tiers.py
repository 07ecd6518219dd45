"""The tier billing gives a tenant: the higher of its live subscription's plan and a
superadmin's manual grant, free otherwise.

Every change goes through the injected ``AdminService.change_tier`` (the path of
``chainflow users set-tier``), which publishes ``users.tier.changed`` and drops cached
principals, so limits change at once in every process. Before lowering a tier, billing
reads the tenant's tier: if it is above what billing's own records gave (a superadmin moved
it by hand, outside billing), it is left as it is.
"""

from __future__ import annotations

from datetime import datetime

from chainflow.core.auth import Tier
from chainflow.core.clock import Clock
from chainflow.core.logging import get_logger
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.models import Subscription, TierGrant
from chainflow.users.billing.plans import TIER_RANK, higher_tier, plan_named
from chainflow.users.billing.ports import TierChanger, TierReader, tenant_context_for
from chainflow.users.billing.repository import TierGrantRepository

log = get_logger("chainflow.users.billing.tiers")

TIER_GIVING = frozenset({"trialing", "active", "past_due", "canceled"})


def subscription_tier(row: Subscription | None) -> Tier:
    """Return the tier a subscription gives now (free once expired)."""
    if row is None or row.status not in TIER_GIVING:
        return Tier.FREE
    return plan_named(row.plan).tier


def grant_tier(grant: TierGrant | None, now: datetime) -> Tier:
    """Return the tier a manual grant gives at ``now`` (free when none or run out)."""
    if grant is None or (grant.until is not None and grant.until <= now):
        return Tier.FREE
    return Tier(grant.tier)


class TierSync:
    """Set a tenant's tier to what billing gives it. Never commits."""

    def __init__(self, *, clock: Clock, change_tier: TierChanger, read_tier: TierReader) -> None:
        self._clock = clock
        self._change_tier = change_tier
        self._read_tier = read_tier

    async def apply(
        self, uow: UnitOfWork, tenant_id: str, row: Subscription | None, *, billed_before: Tier
    ) -> Tier:
        """Move the tenant to the tier ``row`` and its grant give; ``billed_before`` is the
        tier billing gave before this change (the guard against lowering a hand-set tier)."""
        now = self._clock.now()
        grant = await TierGrantRepository(uow.session, tenant_context_for(tenant_id)).current()
        target = higher_tier(subscription_tier(row), grant_tier(grant, now))
        if TIER_RANK[target] < TIER_RANK[billed_before]:
            current = Tier((await self._read_tier(uow, tenant_id)).tier)
            if TIER_RANK[current] > TIER_RANK[billed_before]:
                log.warning("billing_left_manual_tier", tenant_id=tenant_id, tier=current.value)
                return current
        await self._change_tier(uow, None, tenant_id, target.value)
        return target

    async def billed_now(self, uow: UnitOfWork, tenant_id: str, row: Subscription | None) -> Tier:
        """Return the tier billing's records give the tenant at this moment."""
        grant = await TierGrantRepository(uow.session, tenant_context_for(tenant_id)).current()
        return higher_tier(subscription_tier(row), grant_tier(grant, self._clock.now()))
