"""Database overrides of the plan table's prices, set by superadmins.

The plan table stays in code (``plans.PLANS``); a row of ``billing_plan_prices`` replaces
one plan's price for one period, from ``effective_from`` (at once when None). Checkout,
renewals and the public plan list read the *effective* plan: the code's plan with the
overrides in force now (``effective_plan``). An order keeps the price it was made at
(its ``item_details``), so a change never reprices an order awaiting payment. Every change
and revert is an audit entry (``billing_audit``, tenant ``*``: it concerns every tenant).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from chainflow.core.clock import Clock
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.audit import AuditTrail
from chainflow.users.billing.errors import (
    PlanNotPurchasableError,
    PlanPriceOverrideNotFoundError,
)
from chainflow.users.billing.models import PlanPriceOverride
from chainflow.users.billing.plans import PLANS, Period, Plan, period_named, plan_named
from chainflow.users.billing.repository import PlanPriceRepository

ALL_TENANTS = "*"  # the audit subject of a platform-wide change
ACTION_SET = "plan_price_set"
ACTION_REVERT = "plan_price_reverted"


@dataclass(frozen=True, slots=True)
class PriceOverride:
    plan: str
    period: str
    price_idr: int
    effective_from: datetime | None


@dataclass(frozen=True, slots=True)
class PlanPriceView:
    """One plan and period: the code's price, the override, and what applies now."""

    plan: str
    period: str
    code_price_idr: int
    override_idr: int | None
    effective_from: datetime | None
    effective_idr: int
    set_by: str | None


def _override_of(row: PlanPriceOverride) -> PriceOverride:
    return PriceOverride(row.plan, row.period, row.price_idr, row.effective_from)


def is_in_force(override: PriceOverride, now: datetime) -> bool:
    return override.effective_from is None or override.effective_from <= now


def with_overrides(plan: Plan, overrides: Iterable[PriceOverride], now: datetime) -> Plan:
    """Return ``plan`` with the prices of the ``overrides`` in force at ``now``."""
    prices = {Period.MONTHLY: plan.monthly_idr, Period.YEARLY: plan.yearly_idr}
    for override in overrides:
        if override.plan == plan.code and is_in_force(override, now):
            prices[Period(override.period)] = override.price_idr
    return dataclasses.replace(
        plan, monthly_idr=prices[Period.MONTHLY], yearly_idr=prices[Period.YEARLY]
    )


def _view(
    plan: Plan, period: Period, row: PlanPriceOverride | None, now: datetime
) -> PlanPriceView:
    override = _override_of(row) if row is not None else None
    effective = plan.price_idr(period)
    if override is not None and is_in_force(override, now):
        effective = override.price_idr
    return PlanPriceView(
        plan=plan.code,
        period=period.value,
        code_price_idr=plan.price_idr(period),
        override_idr=override.price_idr if override else None,
        effective_from=override.effective_from if override else None,
        effective_idr=effective,
        set_by=row.set_by if row is not None else None,
    )


class PlanPriceService:
    """Read effective plans; set and revert overrides (superadmins). Never commits."""

    def __init__(self, *, clock: Clock, audit: AuditTrail) -> None:
        self._clock = clock
        self._audit = audit

    async def overrides(self, uow: UnitOfWork) -> list[PriceOverride]:
        rows = await PlanPriceRepository(uow.session).list_all()
        return [_override_of(row) for row in rows]

    async def effective_plan(self, uow: UnitOfWork, plan: Plan) -> Plan:
        """Return ``plan`` at the prices in force now."""
        return with_overrides(plan, await self.overrides(uow), self._clock.now())

    async def effective_plans(self, uow: UnitOfWork) -> list[Plan]:
        """Return every plan of the table, in order, at the prices in force now."""
        overrides = await self.overrides(uow)
        now = self._clock.now()
        return [with_overrides(plan, overrides, now) for plan in PLANS.values()]

    async def list_prices(self, uow: UnitOfWork) -> list[PlanPriceView]:
        """Return every paid plan and period with its code, override and effective price."""
        rows = {(r.plan, r.period): r for r in await PlanPriceRepository(uow.session).list_all()}
        now = self._clock.now()
        return [
            _view(plan, period, rows.get((plan.code, period.value)), now)
            for plan in PLANS.values()
            if plan.is_paid
            for period in Period
        ]

    async def set_price(
        self,
        uow: UnitOfWork,
        actor_user_id: str,
        raw_plan: str,
        raw_period: str,
        price_idr: int,
        effective_from: datetime | None,
        reason: str,
    ) -> PlanPriceView:
        """Store (or replace) the override of one plan and period, with an audit entry."""
        plan, period = _paid_plan(raw_plan), period_named(raw_period)
        repository = PlanPriceRepository(uow.session)
        row = await repository.by_plan_period(plan.code, period.value, lock=True)
        before = _view(plan, period, row, self._clock.now())
        if row is None:
            row = PlanPriceOverride(
                plan=plan.code,
                period=period.value,
                price_idr=price_idr,
                effective_from=effective_from,
                set_by=actor_user_id,
            )
            await repository.add(row)
        else:
            row.price_idr, row.effective_from, row.set_by = price_idr, effective_from, actor_user_id
        await self._audit.record(
            uow,
            actor_user_id=actor_user_id,
            action=ACTION_SET,
            tenant_id=ALL_TENANTS,
            reason=reason,
            details={
                "plan": plan.code,
                "period": period.value,
                "previous_idr": before.effective_idr,
                "price_idr": price_idr,
                "effective_from": effective_from.isoformat() if effective_from else None,
            },
        )
        return _view(plan, period, row, self._clock.now())

    async def revert(
        self, uow: UnitOfWork, actor_user_id: str, raw_plan: str, raw_period: str, reason: str
    ) -> PlanPriceView:
        """Remove the override of one plan and period (its code price applies again)."""
        plan, period = _paid_plan(raw_plan), period_named(raw_period)
        repository = PlanPriceRepository(uow.session)
        row = await repository.by_plan_period(plan.code, period.value, lock=True)
        if row is None:
            raise PlanPriceOverrideNotFoundError(
                f"expected a price override of {plan.code!r} {period.value}; there is none"
            )
        before = _view(plan, period, row, self._clock.now())
        await repository.delete(row)
        await self._audit.record(
            uow,
            actor_user_id=actor_user_id,
            action=ACTION_REVERT,
            tenant_id=ALL_TENANTS,
            reason=reason,
            details={
                "plan": plan.code,
                "period": period.value,
                "previous_idr": before.effective_idr,
                "price_idr": plan.price_idr(period),
            },
        )
        return _view(plan, period, None, self._clock.now())


def _paid_plan(raw_plan: str) -> Plan:
    plan = plan_named(raw_plan)
    if not plan.is_paid:
        raise PlanNotPurchasableError(
            f"expected a paid plan to price; received {plan.code!r}, which is free"
        )
    return plan
