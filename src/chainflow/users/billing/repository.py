"""All queries of billing's tables (STYLE.md section 3).

Tenant tables go through ``TenantRepository`` subclasses. ``BillingLookup`` holds the few
queries that cross tenants: finding the order a Midtrans notification names, the
superadmin's order list, and the subscriptions an expiry sweep must visit; it refuses any
session not opened with ``system=True``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chainflow.storage.relational import Repository, TenantRepository
from chainflow.storage.relational.unit_of_work import SYSTEM_INFO_KEY
from chainflow.users.billing.errors import CouponExistsError
from chainflow.users.billing.models import (
    BillingAudit,
    BillingOrder,
    Coupon,
    CouponRedemption,
    Invoice,
    InvoiceCounter,
    PlanPriceOverride,
    Subscription,
    TierGrant,
)

ADMIN_PAGE_LIMIT = 200


class OrderRepository(TenantRepository[BillingOrder]):
    async def by_order_id(self, order_id: str, *, lock: bool = False) -> BillingOrder | None:
        """Return the tenant's order ``order_id``; with ``lock``, hold its row until the
        transaction ends, so that concurrent notifications apply one after the other."""
        statement = self._select().where(BillingOrder.order_id == order_id)
        if lock:
            statement = statement.with_for_update()
        result = await self.session.execute(statement)
        return result.scalar_one_or_none()

    async def recent(self, limit: int = 50) -> Sequence[BillingOrder]:
        statement = self._select().order_by(BillingOrder.id.desc()).limit(limit)
        return (await self.session.execute(statement)).scalars().all()

    async def granted(self, plan: str) -> Sequence[BillingOrder]:
        """Return the tenant's orders of ``plan`` whose period was granted and not taken back."""
        statement = self._select().where(
            BillingOrder.plan == plan,
            BillingOrder.granted_at.is_not(None),
            BillingOrder.revoked_at.is_(None),
        )
        return (await self.session.execute(statement)).scalars().all()

    async def by_midtrans_order_id(
        self, midtrans_order_id: str, *, lock: bool = False
    ) -> BillingOrder | None:
        """Return the tenant's order paid by the Midtrans transaction ``midtrans_order_id``
        (a Payment Link purchase or a subscription charge)."""
        statement = self._select().where(BillingOrder.midtrans_order_id == midtrans_order_id)
        if lock:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def by_order_ids(self, order_ids: Collection[str]) -> Sequence[BillingOrder]:
        statement = self._select().where(BillingOrder.order_id.in_(list(order_ids)))
        return (await self.session.execute(statement)).scalars().all()


class SubscriptionRepository(TenantRepository[Subscription]):
    async def current(self, *, lock: bool = False) -> Subscription | None:
        statement = self._select()
        if lock:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()


class CouponRedemptionRepository(TenantRepository[CouponRedemption]):
    async def record(self, code: str, order_id: str) -> bool:
        """Record the tenant's use of ``code``; return False if it used it before."""
        try:
            async with self.session.begin_nested():
                await self.add(CouponRedemption(coupon_code=code, order_id=order_id))
        except IntegrityError:
            return False
        return True

    async def forget(self, order_id: str) -> None:
        """Give the coupon of ``order_id`` back to the tenant (its order never reached Snap)."""
        await self.session.execute(self._delete().where(CouponRedemption.order_id == order_id))


class TierGrantRepository(TenantRepository[TierGrant]):
    async def current(self, *, lock: bool = False) -> TierGrant | None:
        statement = self._select()
        if lock:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()


class AuditRepository(Repository[BillingAudit]):
    async def recent(self, tenant_id: str | None, limit: int) -> Sequence[BillingAudit]:
        statement = select(BillingAudit).order_by(BillingAudit.at.desc(), BillingAudit.id.desc())
        if tenant_id is not None:
            statement = statement.where(BillingAudit.subject_tenant_id == tenant_id)
        return (await self.session.execute(statement.limit(limit))).scalars().all()


class InvoiceRepository(TenantRepository[Invoice]):
    async def list_all(self) -> Sequence[Invoice]:
        statement = self._select().order_by(Invoice.number.desc())
        return (await self.session.execute(statement)).scalars().all()

    async def by_id(self, invoice_id: str) -> Invoice | None:
        result = await self.session.execute(self._select().where(Invoice.id == invoice_id))
        return result.scalar_one_or_none()

    async def by_order_id(self, order_id: str) -> Invoice | None:
        result = await self.session.execute(self._select().where(Invoice.order_id == order_id))
        return result.scalar_one_or_none()


class InvoiceCounterRepository(TenantRepository[InvoiceCounter]):
    async def next_number(self) -> int:
        """Return the tenant's next invoice number, counted in this transaction.

        The counter row is bumped with one ``UPDATE ... RETURNING`` (which locks it until the
        commit), so a rolled-back invoice gives its number back and the sequence has no gaps.
        """
        statement = (
            self._update()
            .values(last_number=InvoiceCounter.last_number + 1)
            .returning(InvoiceCounter.last_number)
        )
        bumped = (await self.session.execute(statement)).scalar_one_or_none()
        if bumped is not None:
            return int(bumped)
        await self.add(InvoiceCounter(last_number=1))
        return 1


class CouponRepository(Repository[Coupon]):
    async def by_code(self, code: str) -> Coupon | None:
        result = await self.session.execute(self._select().where(Coupon.code == code))
        return result.scalar_one_or_none()

    async def add_coupon(self, coupon: Coupon) -> Coupon:
        """Store ``coupon``; raise ``CouponExistsError`` if its code is taken."""
        try:
            async with self.session.begin_nested():
                return await self.add(coupon)
        except IntegrityError as e:
            raise CouponExistsError(
                f"expected a new coupon code; {coupon.code!r} exists already"
            ) from e

    async def redeem(self, code: str) -> bool:
        """Count one redemption of ``code`` unless it is used up; return whether it counted."""
        statement = (
            self._update()
            .where(
                Coupon.code == code,
                or_(
                    Coupon.max_redemptions.is_(None),
                    Coupon.redemptions < Coupon.max_redemptions,
                ),
            )
            .values(redemptions=Coupon.redemptions + 1)
            .returning(Coupon.id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def release(self, code: str) -> None:
        """Give back one redemption of ``code`` (its order never reached Midtrans)."""
        await self.session.execute(
            self._update()
            .where(Coupon.code == code, Coupon.redemptions > 0)
            .values(redemptions=Coupon.redemptions - 1)
        )


class PlanPriceRepository(Repository[PlanPriceOverride]):
    async def list_all(self) -> Sequence[PlanPriceOverride]:
        statement = self._select().order_by(PlanPriceOverride.plan, PlanPriceOverride.period)
        return (await self.session.execute(statement)).scalars().all()

    async def by_plan_period(
        self, plan: str, period: str, *, lock: bool = False
    ) -> PlanPriceOverride | None:
        statement = self._select().where(
            PlanPriceOverride.plan == plan, PlanPriceOverride.period == period
        )
        if lock:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()


class BillingLookup:
    """Cross-tenant billing queries, in a ``system=True`` unit of work only."""

    def __init__(self, session: AsyncSession) -> None:
        if not session.info.get(SYSTEM_INFO_KEY):
            raise ValueError(
                "BillingLookup needs a unit of work opened with system=True; "
                "it received a tenant-scoped one"
            )
        self.session = session

    async def tenant_of_order(self, order_id: str) -> str | None:
        """Return the tenant that owns ``order_id``, or ``None``."""
        statement = select(BillingOrder.tenant_id).where(BillingOrder.order_id == order_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def tenant_of_transaction(self, midtrans_order_id: str) -> str | None:
        """Return the tenant whose order a Midtrans transaction id was bound to, or ``None``."""
        statement = select(BillingOrder.tenant_id).where(
            BillingOrder.midtrans_order_id == midtrans_order_id
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def tenant_of_card_subscription(self, name: str) -> str | None:
        """Return the tenant whose Midtrans card subscription is named ``name``, or ``None``."""
        statement = select(Subscription.tenant_id).where(
            Subscription.card_subscription_name == name
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def orders(self, status: str | None, limit: int) -> Sequence[BillingOrder]:
        """Return the newest orders of every tenant, only those in ``status`` if given."""
        statement = select(BillingOrder).order_by(BillingOrder.id.desc()).limit(limit)
        if status is not None:
            statement = statement.where(BillingOrder.status == status)
        return (await self.session.execute(statement)).scalars().all()

    async def orders_in(self, statuses: Collection[str], limit: int) -> Sequence[BillingOrder]:
        """Return the newest orders of every tenant in one of ``statuses``."""
        statement = (
            select(BillingOrder)
            .where(BillingOrder.status.in_(list(statuses)))
            .order_by(BillingOrder.id.desc())
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def subscriptions(self, status: str | None, limit: int) -> Sequence[Subscription]:
        """Return every tenant's subscription, soonest period end first."""
        statement = select(Subscription).order_by(Subscription.current_period_end).limit(limit)
        if status is not None:
            statement = statement.where(Subscription.status == status)
        return (await self.session.execute(statement)).scalars().all()

    async def subscription_counts(self) -> list[tuple[str, str, str, int]]:
        """Return (plan, period, status, count) over every subscription."""
        statement = select(
            Subscription.plan, Subscription.period, Subscription.status, func.count()
        ).group_by(Subscription.plan, Subscription.period, Subscription.status)
        rows = (await self.session.execute(statement)).all()
        return [(str(plan), str(period), str(status), int(n)) for plan, period, status, n in rows]

    async def active_grant_count(self, now: datetime) -> int:
        statement = (
            select(func.count())
            .select_from(TierGrant)
            .where(or_(TierGrant.until.is_(None), TierGrant.until > now))
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def tenants_due_for_sweep(self, now: datetime, lead: timedelta) -> list[str]:
        """Return tenants with something due by ``now``: a period, trial or grace that ended,
        a scheduled plan change, a renewal or reminder within ``lead`` of the period end not
        yet made, a manual grant that ran out, or a card subscription that may have to stop
        (``card_subscriptions.keeps_charging`` decides)."""
        live = ("active", "trialing", "canceled")
        ended = and_(Subscription.status.in_(live), Subscription.current_period_end <= now)
        grace_over = and_(Subscription.status == "past_due", Subscription.grace_until <= now)
        scheduled = Subscription.scheduled_at <= now
        remind = and_(
            Subscription.status.in_(live),
            Subscription.current_period_end <= now + lead,
            or_(
                Subscription.reminded_for_end.is_(None),
                Subscription.reminded_for_end != Subscription.current_period_end,
            ),
        )
        stale_card = and_(
            Subscription.card_subscription_id.is_not(None),
            or_(
                Subscription.auto_renew.is_(False),
                Subscription.cancel_at_period_end.is_(True),
                Subscription.status.not_in(("active", "past_due")),
                Subscription.scheduled_plan.is_not(None),
                Subscription.card_subscription_plan != Subscription.plan,
                Subscription.card_subscription_period != Subscription.period,
            ),
        )
        subscriptions = select(Subscription.tenant_id).where(
            or_(ended, grace_over, scheduled, remind, stale_card)
        )
        grants = select(TierGrant.tenant_id).where(TierGrant.until <= now)
        due = set((await self.session.execute(subscriptions)).scalars().all())
        due.update((await self.session.execute(grants)).scalars().all())
        return sorted(due)
