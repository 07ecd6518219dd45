"""All queries of the users service's tables (STYLE.md section 3).

Tenant-owned tables are queried through ``TenantRepository`` subclasses, whose every
statement carries the tenant filter. The few lookups that must cross tenants (a login by
e-mail, a token or key presented by hash, superadmin actions) live in
``CrossTenantLookup``, which refuses any session not opened with ``system=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chainflow.storage.relational import Repository, TenantRepository
from chainflow.storage.relational.unit_of_work import SYSTEM_INFO_KEY
from chainflow.users.billing.models import Subscription
from chainflow.users.errors import ConcurrentUpdateError, EmailAlreadyRegisteredError
from chainflow.users.models import (
    ApiKey,
    Invitation,
    OneTimeToken,
    RefreshToken,
    Tenant,
    TenantTradingSettings,
    User,
)

# --- global ----------------------------------------------------------------------------------


class TenantRecordRepository(Repository[Tenant]):
    """Queries of the ``tenants`` table (a tenant row is read by its own id only)."""


# --- tenant-owned ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonalDetails:
    """Who a user says they are: the personal part of their profile (``/users/me``)."""

    email: str
    name: str
    locale: str
    timezone: str
    email_verified: bool
    is_superadmin: bool


class UserRepository(TenantRepository[User]):
    async def personal_details(self, user_id: str) -> PersonalDetails | None:
        """Return the user's personal details: one query of six columns, no ORM object."""
        statement = self._select().with_only_columns(
            User.email,
            User.name,
            User.locale,
            User.timezone,
            User.email_verified_at.is_not(None),
            User.is_superadmin,
        )
        row = (await self.session.execute(statement.where(User.id == user_id))).first()
        if row is None:
            return None
        email, name, locale, timezone, verified, is_superadmin = row
        return PersonalDetails(email, name, locale, timezone, bool(verified), bool(is_superadmin))

    async def add_user(self, user: User) -> User:
        """Add ``user``; raise ``EmailAlreadyRegisteredError`` when the e-mail is taken."""
        try:
            return await self.add(user)
        except IntegrityError as e:
            raise EmailAlreadyRegisteredError(
                "an account with this e-mail address already exists; expected a new address"
            ) from e

    async def list_members(self) -> Sequence[User]:
        result = await self.session.execute(self._select().order_by(User.created_at, User.id))
        return result.scalars().all()

    async def get_by_email(self, email: str) -> User | None:
        result = await self.session.execute(self._select().where(User.email == email))
        return result.scalar_one_or_none()

    async def lock_owner_ids(self) -> list[str]:
        """Return the ids of active owners, locking their rows until the transaction ends."""
        statement = (
            self._select().where(User.role == "owner", User.is_active.is_(True)).with_for_update()
        )
        result = await self.session.execute(statement)
        return [user.id for user in result.scalars().all()]

    async def ids(self) -> list[str]:
        result = await self.session.execute(self._select().with_only_columns(User.id))
        return list(result.scalars().all())


@dataclass(frozen=True, slots=True)
class SessionRow:
    """The current token of an active session, with when the session started."""

    token: RefreshToken
    started_at: datetime


class RefreshTokenRepository(TenantRepository[RefreshToken]):
    async def mark_used(self, token_id: str, *, used_at: datetime, replaced_by: str) -> bool:
        """Mark the token used if nobody did first; return whether this call won.

        The conditional UPDATE is atomic on every backend: of two concurrent rotations of
        one token, exactly one sees a row count of 1.
        """
        statement = (
            self._update()
            .where(
                RefreshToken.id == token_id,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(used_at=used_at, replaced_by=replaced_by)
        )
        result = await self.session.execute(statement.returning(RefreshToken.id))
        return result.first() is not None

    async def is_unused(self, token_id: str) -> bool:
        """Whether the token ``token_id`` is live and was never presented."""
        statement = self._select().where(
            RefreshToken.id == token_id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        result = await self.session.execute(statement.with_only_columns(RefreshToken.id))
        return result.first() is not None

    async def revoke_family(self, family_id: str, *, revoked_at: datetime) -> int:
        """Revoke every token of the session ``family_id``; return how many were live."""
        statement = (
            self._update()
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=revoked_at)
        )
        result = await self.session.execute(statement.returning(RefreshToken.id))
        return len(result.all())

    async def revoke_user_sessions(self, user_id: str, *, revoked_at: datetime) -> list[str]:
        """Revoke every live token of ``user_id``; return the affected session ids."""
        statement = (
            self._update()
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=revoked_at)
        )
        result = await self.session.execute(statement.returning(RefreshToken.family_id))
        return sorted(set(result.scalars().all()))

    def _active(self, now: datetime) -> Select[RefreshToken]:
        return self._select().where(
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
        )

    async def active_sessions(self, user_id: str, *, now: datetime) -> list[SessionRow]:
        """Return the user's active sessions, newest activity first."""
        result = await self.session.execute(
            self._active(now)
            .where(RefreshToken.user_id == user_id)
            .order_by(RefreshToken.issued_at.desc())
        )
        # A retry within the reuse grace leaves two live tokens in one session: the newest
        # stands for it.
        newest: dict[str, RefreshToken] = {}
        for token in result.scalars().all():
            newest.setdefault(token.family_id, token)
        current = list(newest.values())
        if not current:
            return []
        families = [token.family_id for token in current]
        started = await self.session.execute(
            select(RefreshToken.family_id, func.min(RefreshToken.issued_at))
            .where(self._tenant_filter(), RefreshToken.family_id.in_(families))
            .group_by(RefreshToken.family_id)
        )
        started_at: dict[str, datetime] = dict(started.all())
        return [SessionRow(t, started_at.get(t.family_id, t.issued_at)) for t in current]

    async def active_session_ids(
        self, *, now: datetime, user_ids: Sequence[str] | None = None
    ) -> list[str]:
        """Return the ids of active sessions of the tenant (or of ``user_ids`` only)."""
        statement = self._active(now).with_only_columns(RefreshToken.family_id)
        if user_ids is not None:
            statement = statement.where(RefreshToken.user_id.in_(list(user_ids)))
        result = await self.session.execute(statement)
        return sorted(set(result.scalars().all()))

    async def is_session_active(self, family_id: str, user_id: str, *, now: datetime) -> bool:
        statement = self._active(now).where(
            RefreshToken.family_id == family_id, RefreshToken.user_id == user_id
        )
        result = await self.session.execute(statement.with_only_columns(RefreshToken.id))
        return result.first() is not None


class OneTimeTokenRepository(TenantRepository[OneTimeToken]):
    async def consume(self, token_id: str, *, used_at: datetime) -> bool:
        """Mark the token used if it was not; return whether this call did it."""
        statement = (
            self._update()
            .where(OneTimeToken.id == token_id, OneTimeToken.used_at.is_(None))
            .values(used_at=used_at)
        )
        result = await self.session.execute(statement.returning(OneTimeToken.id))
        return result.first() is not None

    async def expire_unused(self, user_id: str, purpose: str, *, used_at: datetime) -> None:
        """Retire the user's earlier unused tokens of ``purpose`` (a new one replaces them)."""
        await self.session.execute(
            self._update()
            .where(
                OneTimeToken.user_id == user_id,
                OneTimeToken.purpose == purpose,
                OneTimeToken.used_at.is_(None),
            )
            .values(used_at=used_at)
        )


class ApiKeyRepository(TenantRepository[ApiKey]):
    async def list_active(self, *, created_by: str | None = None) -> Sequence[ApiKey]:
        statement = self._select().where(ApiKey.revoked_at.is_(None))
        if created_by is not None:
            statement = statement.where(ApiKey.created_by == created_by)
        result = await self.session.execute(statement.order_by(ApiKey.created_at, ApiKey.id))
        return result.scalars().all()

    async def get_active(self, key_id: str) -> ApiKey | None:
        result = await self.session.execute(
            self._select().where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        )
        return result.scalar_one_or_none()

    async def active_key_hashes(self, *, created_by: str | None = None) -> list[str]:
        return [key.key_hash for key in await self.list_active(created_by=created_by)]


class InvitationRepository(TenantRepository[Invitation]):
    async def list_pending(self, *, now: datetime) -> Sequence[Invitation]:
        result = await self.session.execute(
            self._pending(now).order_by(Invitation.created_at, Invitation.id)
        )
        return result.scalars().all()

    async def get_pending(self, invitation_id: str, *, now: datetime) -> Invitation | None:
        result = await self.session.execute(
            self._pending(now).where(Invitation.id == invitation_id)
        )
        return result.scalar_one_or_none()

    async def revoke_pending_for_email(self, email: str, *, now: datetime) -> None:
        await self.session.execute(
            self._update()
            .where(
                Invitation.email == email,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
            .values(revoked_at=now, updated_at=now)
        )

    async def accept(self, invitation_id: str, *, now: datetime, user_id: str) -> bool:
        """Mark the invitation accepted if it is still pending; return whether this call did."""
        statement = (
            self._update()
            .where(
                Invitation.id == invitation_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
            .values(accepted_at=now, accepted_user_id=user_id, updated_at=now)
        )
        result = await self.session.execute(statement.returning(Invitation.id))
        return result.first() is not None

    def _pending(self, now: datetime) -> Select[Invitation]:
        return self._select().where(
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )


class TradingSettingsRepository(TenantRepository[TenantTradingSettings]):
    async def get_current(self) -> TenantTradingSettings | None:
        result = await self.session.execute(self._select())
        return result.scalar_one_or_none()

    async def add_first(self, row: TenantTradingSettings) -> TenantTradingSettings:
        """Store the tenant's first settings; raise ``ConcurrentUpdateError`` if another
        request stored them in the meantime."""
        try:
            return await self.add(row)
        except IntegrityError as e:
            raise ConcurrentUpdateError(
                "expected to store the tenant's first trading settings; another request "
                "stored them at the same time. Retry."
            ) from e


# --- cross-tenant lookups --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TenantListing:
    tenant: Tenant
    user_count: int
    subscription_status: str | None
    subscription_plan: str | None


class CrossTenantLookup:
    """Lookups that find a row before its tenant is known, in a ``system=True`` unit of work.

    Each method finds rows by a globally unique key (an e-mail address, the hash of a
    presented secret, or an id named by a superadmin) and returns the row with its
    ``tenant_id``; callers continue with tenant-scoped repositories built from that id.
    """

    def __init__(self, session: AsyncSession) -> None:
        if not session.info.get(SYSTEM_INFO_KEY):
            raise ValueError(
                "CrossTenantLookup needs a unit of work opened with system=True; "
                "it received a tenant-scoped one"
            )
        self.session = session

    async def user_by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(User.email == email))
        return result.scalar_one_or_none()

    async def user_by_id(self, user_id: str) -> User | None:
        result = await self.session.execute(select(User).where(User.id == user_id))
        return result.scalar_one_or_none()

    async def refresh_token_by_hash(self, token_hash: str) -> RefreshToken | None:
        result = await self.session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )
        return result.scalar_one_or_none()

    async def one_time_token_by_hash(self, token_hash: str, purpose: str) -> OneTimeToken | None:
        result = await self.session.execute(
            select(OneTimeToken).where(
                OneTimeToken.token_hash == token_hash, OneTimeToken.purpose == purpose
            )
        )
        return result.scalar_one_or_none()

    async def invitation_by_hash(self, token_hash: str) -> Invitation | None:
        result = await self.session.execute(
            select(Invitation).where(Invitation.token_hash == token_hash)
        )
        return result.scalar_one_or_none()

    async def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        result = await self.session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash))
        return result.scalar_one_or_none()

    async def record_api_key_use(self, api_key_id: str, *, used_at: datetime) -> None:
        """Set the key's last-used time unless a later one is stored already."""
        await self.session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == api_key_id,
                or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < used_at),
            )
            .values(last_used_at=used_at)
        )

    async def tenants_page(self, *, limit: int, offset: int) -> list[TenantListing]:
        """Every tenant, oldest first, with its user count and subscription (if any)."""
        users = (
            select(User.tenant_id, func.count().label("users")).group_by(User.tenant_id).subquery()
        )
        statement = (
            select(Tenant, func.coalesce(users.c.users, 0), Subscription.status, Subscription.plan)
            .outerjoin(users, users.c.tenant_id == Tenant.id)
            .outerjoin(Subscription, Subscription.tenant_id == Tenant.id)
            .order_by(Tenant.created_at, Tenant.id)
            .limit(limit)
            .offset(offset)
        )
        rows = (await self.session.execute(statement)).all()
        return [TenantListing(t, int(n), status, plan) for t, n, status, plan in rows]
