"""Platform administration by superadmins: tiers, limit overrides, verification tokens.

Every method takes a ``system=True`` unit of work: a superadmin acts on any tenant, named in
the request, and the routes admit superadmins only (``require_superadmin``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from chainflow.core.auth import TIER_LIMITS, Feature, Tier, TierLimits
from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId
from chainflow.hub.api import EventBus
from chainflow.storage.relational import UnitOfWork
from chainflow.users.errors import (
    EmailAlreadyVerifiedError,
    InvalidLimitOverridesError,
    InvalidTierError,
    TenantNotFoundError,
    UserNotFoundError,
)
from chainflow.users.events import TierChanged, publish_after_commit, tier_changed_topic
from chainflow.users.identity import normalize_email
from chainflow.users.models import Tenant
from chainflow.users.repository import (
    ApiKeyRepository,
    CrossTenantLookup,
    RefreshTokenRepository,
    TenantListing,
    TenantRecordRepository,
)
from chainflow.users.service.accounts import AccountService
from chainflow.users.service.context import (
    PrincipalCacheInvalidation,
    limits_of,
    tenant_context_for,
)
from chainflow.users.service.one_time_tokens import IssuedToken

_QUOTA_FIELDS = tuple(f.name for f in fields(TierLimits) if f.name != "features")
_SHARE_FIELDS = ("cpu_share",)  # fractions (of one core), not counts


@dataclass(frozen=True, slots=True)
class TenantSummary:
    tenant_id: TenantId
    name: str
    tier: Tier
    limit_overrides: dict[str, Any]
    limits: TierLimits


def parse_tier(raw: str) -> Tier:
    """Return ``raw`` as a tier; raise ``InvalidTierError`` otherwise."""
    try:
        return Tier(raw)
    except ValueError as e:
        raise InvalidTierError(
            f"tier must be one of {', '.join(Tier)}; received {raw[:40]!r}"
        ) from e


def validated_overrides(raw: dict[str, Any]) -> dict[str, Any]:
    """Return ``raw`` as storable limit overrides: quota names with whole numbers >= 0,
    ``cpu_share`` a number >= 0 (0: unmetered), and ``features`` as a list of known
    features. Raise ``InvalidLimitOverridesError``."""
    problems: list[str] = []
    clean: dict[str, Any] = {}
    for name, value in sorted(raw.items()):
        if name == "features":
            if not isinstance(value, list) or not all(v in set(Feature) for v in value):
                problems.append(
                    f"features must be a list drawn from {', '.join(Feature)}; received "
                    f"{str(value)[:80]}"
                )
            else:
                clean[name] = sorted(set(value))
        elif name in _SHARE_FIELDS:
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                problems.append(f"{name} must be a finite number >= 0; received {value!r}")
            else:
                clean[name] = float(value)
        elif name in _QUOTA_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append(f"{name} must be a whole number >= 0; received {value!r}")
            else:
                clean[name] = value
        else:
            problems.append(
                f"{name!r} is not a limit; expected one of {', '.join(_QUOTA_FIELDS)}, features"
            )
    if problems:
        raise InvalidLimitOverridesError(
            "The limit overrides are invalid: " + "; ".join(problems), details=problems
        )
    return clean


def _summary(tenant: Tenant) -> TenantSummary:
    return TenantSummary(
        tenant_id=TenantId(tenant.id),
        name=tenant.name,
        tier=Tier(tenant.tier),
        limit_overrides=dict(tenant.limit_overrides or {}),
        limits=limits_of(tenant),
    )


class AdminService:
    """Superadmin actions on any tenant or user. Never commits."""

    def __init__(
        self,
        *,
        clock: Clock,
        bus: EventBus,
        accounts: AccountService,
        invalidation: PrincipalCacheInvalidation,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._accounts = accounts
        self._invalidation = invalidation

    async def get_tenant(self, uow: UnitOfWork, tenant_id: str) -> TenantSummary:
        """Return a tenant's tier, stored overrides and effective limits."""
        return _summary(await self._tenant(uow, tenant_id))

    async def list_tenants(
        self, uow: UnitOfWork, *, limit: int, offset: int
    ) -> list[TenantListing]:
        """Return a page of every tenant, oldest first, with user count and subscription."""
        return await CrossTenantLookup(uow.session).tenants_page(limit=limit, offset=offset)

    async def change_tier(
        self, uow: UnitOfWork, changed_by: str | None, tenant_id: str, raw_tier: str
    ) -> TenantSummary:
        """Move a tenant to another tier; publish ``users.tier.changed`` after the commit.

        ``changed_by`` is the acting superadmin's user id, or None for the operator's CLI.
        """
        tier = parse_tier(raw_tier)
        tenant = await self._tenant(uow, tenant_id)
        previous = tenant.tier
        if previous != tier.value:
            tenant.tier = tier.value
            event = TierChanged(
                tenant_id=tenant.id,
                previous_tier=previous,
                tier=tier.value,
                changed_by=changed_by,
                ts_event_ms=self._clock.now_ms(),
            )
            publish_after_commit(uow, self._bus, tier_changed_topic(), event)
            await self._invalidate_tenant(uow, tenant.id)
        return _summary(tenant)

    async def set_limit_overrides(
        self, uow: UnitOfWork, tenant_id: str, raw: dict[str, Any]
    ) -> TenantSummary:
        """Replace a tenant's limit overrides (an empty mapping restores the tier's limits)."""
        overrides = validated_overrides(raw)
        tenant = await self._tenant(uow, tenant_id)
        TIER_LIMITS[Tier(tenant.tier)].with_overrides(overrides)
        tenant.limit_overrides = overrides
        await self._invalidate_tenant(uow, tenant.id)
        return _summary(tenant)

    async def issue_verification_token(self, uow: UnitOfWork, user_id: str) -> IssuedToken:
        """Issue a fresh verification token for a user and return it (also sent on the bus)."""
        user = await CrossTenantLookup(uow.session).user_by_id(user_id)
        if user is None:
            raise UserNotFoundError(f"expected the id of a user; received {user_id[:64]!r}")
        if user.email_verified_at is not None:
            raise EmailAlreadyVerifiedError(
                "expected a user whose e-mail address is not verified; this one is verified"
            )
        return await self._accounts.send_verification(uow, user)

    async def grant_superadmin(self, uow: UnitOfWork, email: str) -> None:
        """Make the user with ``email`` a platform superadmin (for the operator's CLI)."""
        user = await CrossTenantLookup(uow.session).user_by_email(normalize_email(email))
        if user is None:
            raise UserNotFoundError("expected the e-mail address of a user; it has no account")
        user.is_superadmin = True
        self._accounts.profiles.forget_on_commit(uow, user.id)
        sessions = await RefreshTokenRepository(
            uow.session, tenant_context_for(user.tenant_id)
        ).active_session_ids(now=self._clock.now(), user_ids=[user.id])
        self._invalidation.after_commit(uow, session_ids=sessions)

    async def tenant_id_for_email(self, uow: UnitOfWork, email: str) -> str:
        """Return the tenant of the user with ``email`` (for the operator's CLI)."""
        user = await CrossTenantLookup(uow.session).user_by_email(normalize_email(email))
        if user is None:
            raise UserNotFoundError("expected the e-mail address of a user; it has no account")
        return user.tenant_id

    async def _tenant(self, uow: UnitOfWork, tenant_id: str) -> Tenant:
        tenant = await TenantRecordRepository(uow.session).get(tenant_id)
        if tenant is None:
            raise TenantNotFoundError(f"expected the id of a tenant; received {tenant_id[:64]!r}")
        return tenant

    async def _invalidate_tenant(self, uow: UnitOfWork, tenant_id: str) -> None:
        context = tenant_context_for(tenant_id)
        sessions = await RefreshTokenRepository(uow.session, context).active_session_ids(
            now=self._clock.now()
        )
        keys = await ApiKeyRepository(uow.session, context).active_key_hashes()
        self._invalidation.after_commit(uow, session_ids=sessions, api_key_hashes=keys)
