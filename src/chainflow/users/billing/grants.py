"""Manual tier grants by superadmins: a tier for a tenant until a date or until revoked,
tracked (``TierGrant``) so that the expiry sweep never takes it away, and audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chainflow.core.auth import Tier
from chainflow.core.clock import Clock
from chainflow.hub.api import EventBus
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.audit import AuditTrail
from chainflow.users.billing.errors import GrantNotFoundError
from chainflow.users.billing.events import TierGranted, tier_granted_topic
from chainflow.users.billing.models import TierGrant
from chainflow.users.billing.ports import tenant_context_for
from chainflow.users.billing.repository import SubscriptionRepository, TierGrantRepository
from chainflow.users.billing.subscription_state import ms
from chainflow.users.billing.tiers import TierSync
from chainflow.users.events import publish_after_commit


@dataclass(frozen=True, slots=True)
class GrantView:
    tenant_id: str
    tier: str
    until: datetime | None
    granted_by: str
    reason: str
    effective_tier: str


class GrantService:
    """Grant and revoke manual tiers (a ``system=True`` unit of work). Never commits."""

    def __init__(self, *, clock: Clock, bus: EventBus, tiers: TierSync, audit: AuditTrail) -> None:
        self._clock = clock
        self._bus = bus
        self._tiers = tiers
        self._audit = audit

    async def grant(
        self,
        uow: UnitOfWork,
        actor_user_id: str,
        tenant_id: str,
        tier: Tier,
        until: datetime | None,
        reason: str,
    ) -> GrantView:
        """Give ``tenant_id`` at least ``tier`` until ``until`` (or until revoked)."""
        tenant = tenant_context_for(tenant_id)
        subscription = await SubscriptionRepository(uow.session, tenant).current(lock=True)
        billed_before = await self._tiers.billed_now(uow, tenant_id, subscription)
        grants = TierGrantRepository(uow.session, tenant)
        row = await grants.current(lock=True)
        if row is None:
            row = TierGrant(tier=tier.value, granted_by=actor_user_id, reason=reason, until=until)
            await grants.add(row)
        row.tier, row.granted_by, row.reason, row.until = tier.value, actor_user_id, reason, until
        effective = await self._tiers.apply(
            uow, tenant_id, subscription, billed_before=billed_before
        )
        details = {"tier": tier.value, "until": until.isoformat() if until else None}
        await self._audit.record(
            uow,
            actor_user_id=actor_user_id,
            action="grant_tier",
            tenant_id=tenant_id,
            reason=reason,
            details=details,
        )
        self._publish(uow, tenant_id, tier.value, until, actor_user_id)
        return GrantView(tenant_id, tier.value, until, actor_user_id, reason, effective.value)

    async def revoke(
        self, uow: UnitOfWork, actor_user_id: str, tenant_id: str, reason: str
    ) -> GrantView:
        """Remove the tenant's manual grant; it keeps what its subscription gives."""
        tenant = tenant_context_for(tenant_id)
        subscription = await SubscriptionRepository(uow.session, tenant).current(lock=True)
        grants = TierGrantRepository(uow.session, tenant)
        row = await grants.current(lock=True)
        if row is None:
            raise GrantNotFoundError(
                f"expected a tenant with a manual tier grant; {tenant_id[:64]!r} has none"
            )
        billed_before = await self._tiers.billed_now(uow, tenant_id, subscription)
        tier, until = row.tier, row.until
        await grants.delete(row)
        effective = await self._tiers.apply(
            uow, tenant_id, subscription, billed_before=billed_before
        )
        await self._audit.record(
            uow,
            actor_user_id=actor_user_id,
            action="revoke_tier_grant",
            tenant_id=tenant_id,
            reason=reason,
            details={"tier": tier},
        )
        self._publish(uow, tenant_id, None, None, actor_user_id)
        return GrantView(tenant_id, tier, until, actor_user_id, reason, effective.value)

    def _publish(
        self,
        uow: UnitOfWork,
        tenant_id: str,
        tier: str | None,
        until: datetime | None,
        actor_user_id: str,
    ) -> None:
        event = TierGranted(
            tenant_id=tenant_id,
            tier=tier,
            until_ms=ms(until) if until else None,
            granted_by=actor_user_id,
            ts_event_ms=self._clock.now_ms(),
        )
        publish_after_commit(uow, self._bus, tier_granted_topic(), event)
