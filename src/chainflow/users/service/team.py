"""Team: members of a tenant, their roles, and invitations of new members.

Owners and admins manage the team. Only an owner grants or takes away the owner role, and
the last active owner cannot be demoted: a tenant always keeps someone who can manage it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chainflow.core.auth import Feature, Principal, Role
from chainflow.core.clock import Clock
from chainflow.core.errors import FeatureNotInTierError
from chainflow.core.ids import TenantId, UserId
from chainflow.core.tokens import generate_token, hash_token
from chainflow.hub.api import EventBus
from chainflow.storage.relational import UnitOfWork
from chainflow.users.api import InvitationId
from chainflow.users.errors import (
    AlreadyMemberError,
    EmailAlreadyRegisteredError,
    InvalidRoleError,
    InvitationExpiredError,
    InvitationInvalidError,
    InvitationNotFoundError,
    InvitationUsedError,
    LastOwnerError,
    MemberNotFoundError,
    RoleChangeForbiddenError,
)
from chainflow.users.events import InvitationCreated, invitation_created_topic, publish_after_commit
from chainflow.users.identity import (
    DEFAULT_LOCALE,
    DEFAULT_TIMEZONE,
    normalize_email,
    validate_name,
)
from chainflow.users.models import Invitation, User
from chainflow.users.passwords import Argon2PasswordHasher, require_strong_password
from chainflow.users.repository import (
    ApiKeyRepository,
    CrossTenantLookup,
    InvitationRepository,
    RefreshTokenRepository,
    TenantRecordRepository,
    UserRepository,
)
from chainflow.users.service.context import (
    PrincipalCacheInvalidation,
    limits_of,
    tenant_context_for,
)


@dataclass(frozen=True, slots=True)
class Member:
    user_id: UserId
    email: str
    name: str
    role: Role
    email_verified: bool
    is_active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InvitationSummary:
    id: InvitationId
    email: str
    role: Role
    invited_by: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AcceptedInvitation:
    user_id: UserId
    tenant_id: TenantId
    role: Role


def parse_role(raw: str) -> Role:
    """Return ``raw`` as a tenant role; raise ``InvalidRoleError`` otherwise."""
    try:
        return Role(raw)
    except ValueError as e:
        raise InvalidRoleError(
            f"role must be one of {', '.join(Role)}; received {raw[:40]!r}"
        ) from e


def _member(user: User) -> Member:
    return Member(
        user_id=UserId(user.id),
        email=user.email,
        name=user.name,
        role=Role(user.role),
        email_verified=user.email_verified_at is not None,
        is_active=user.is_active,
        created_at=user.created_at,
    )


def _invitation(row: Invitation) -> InvitationSummary:
    return InvitationSummary(
        id=InvitationId(row.id),
        email=row.email,
        role=Role(row.role),
        invited_by=row.invited_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def _check_may_assign(principal: Principal, role: Role, current: Role | None = None) -> None:
    if principal.role is Role.OWNER:
        return
    if role is Role.OWNER or current is Role.OWNER:
        raise RoleChangeForbiddenError(
            f"only an owner grants or removes the owner role; received the request of "
            f"a {principal.role.value}"
        )


class TeamService:
    """Members and invitations. Never commits: the caller's unit of work does."""

    def __init__(
        self,
        *,
        clock: Clock,
        bus: EventBus,
        passwords: Argon2PasswordHasher,
        invitation_ttl_s: int,
        invalidation: PrincipalCacheInvalidation,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._passwords = passwords
        self._invitation_ttl = timedelta(seconds=invitation_ttl_s)
        self._invalidation = invalidation

    # --- members ---------------------------------------------------------------------------

    async def list_members(self, uow: UnitOfWork, principal: Principal) -> list[Member]:
        """Return the members of the caller's tenant, oldest first."""
        users = await UserRepository(uow.session, principal.tenant).list_members()
        return [_member(user) for user in users]

    async def change_role(
        self, uow: UnitOfWork, principal: Principal, member_id: str, raw_role: str
    ) -> Member:
        """Give a member another role; refuse to leave the tenant without an owner."""
        role = parse_role(raw_role)
        users = UserRepository(uow.session, principal.tenant)
        member = await users.get(member_id)
        if member is None:
            raise MemberNotFoundError(
                f"expected the id of a member of your tenant; received {member_id[:64]!r}"
            )
        current = Role(member.role)
        _check_may_assign(principal, role, current)
        if current is role:
            return _member(member)
        if current is Role.OWNER:
            owners = await users.lock_owner_ids()
            if [owner for owner in owners if owner != member.id] == []:
                raise LastOwnerError(
                    "a tenant must keep at least one owner; received a request to demote "
                    "its last owner. Promote another member first."
                )
        member.role = role.value
        await self._invalidate_member(uow, principal, member.id)
        return _member(member)

    async def _invalidate_member(self, uow: UnitOfWork, principal: Principal, user_id: str) -> None:
        now = self._clock.now()
        sessions = await RefreshTokenRepository(uow.session, principal.tenant).active_session_ids(
            now=now, user_ids=[user_id]
        )
        keys = await ApiKeyRepository(uow.session, principal.tenant).active_key_hashes(
            created_by=user_id
        )
        self._invalidation.after_commit(uow, session_ids=sessions, api_key_hashes=keys)

    # --- invitations -----------------------------------------------------------------------

    async def invite(
        self, uow: UnitOfWork, principal: Principal, raw_email: str, raw_role: str
    ) -> InvitationSummary:
        """Invite ``raw_email`` as ``raw_role``; the token goes out on the bus after commit."""
        email = normalize_email(raw_email)
        role = parse_role(raw_role)
        _check_may_assign(principal, role)
        if await UserRepository(uow.session, principal.tenant).get_by_email(email) is not None:
            raise AlreadyMemberError(
                "expected the e-mail address of someone outside the tenant; received the "
                "address of a member"
            )
        invitations = InvitationRepository(uow.session, principal.tenant)
        now = self._clock.now()
        await invitations.revoke_pending_for_email(email, now=now)
        raw_token = generate_token()
        row = await invitations.add(
            Invitation(
                email=email,
                role=role.value,
                token_hash=hash_token(raw_token),
                invited_by=principal.user_id,
                expires_at=now + self._invitation_ttl,
                created_at=now,
            )
        )
        event = InvitationCreated(
            invitation_id=row.id,
            tenant_id=principal.tenant_id,
            email=email,
            role=role.value,
            invited_by=principal.user_id,
            token=raw_token,
            expires_at_ms=int(row.expires_at.timestamp() * 1000),
            ts_event_ms=self._clock.now_ms(),
        )
        publish_after_commit(uow, self._bus, invitation_created_topic(), event)
        return _invitation(row)

    async def list_invitations(
        self, uow: UnitOfWork, principal: Principal
    ) -> list[InvitationSummary]:
        """Return the pending (unaccepted, unexpired, not withdrawn) invitations."""
        repository = InvitationRepository(uow.session, principal.tenant)
        return [_invitation(r) for r in await repository.list_pending(now=self._clock.now())]

    async def revoke_invitation(
        self, uow: UnitOfWork, principal: Principal, invitation_id: str
    ) -> None:
        """Withdraw a pending invitation; one of another tenant is not found."""
        now = self._clock.now()
        row = await InvitationRepository(uow.session, principal.tenant).get_pending(
            invitation_id, now=now
        )
        if row is None:
            raise InvitationNotFoundError(
                f"expected the id of a pending invitation of your tenant; received "
                f"{invitation_id[:64]!r}"
            )
        row.revoked_at = now

    async def accept(
        self, uow: UnitOfWork, raw_token: str, password: str, name: str | None
    ) -> AcceptedInvitation:
        """Create the invited user in the inviting tenant; ``uow`` is ``system=True``
        (the invitee is not signed in; the token's hash finds the invitation)."""
        lookup = CrossTenantLookup(uow.session)
        row = await lookup.invitation_by_hash(hash_token(raw_token.strip()))
        if row is None or row.revoked_at is not None:
            raise InvitationInvalidError(
                "expected the token of a pending invitation; received an unknown or withdrawn one"
            )
        if row.accepted_at is not None:
            raise InvitationUsedError(
                "an invitation works once; received one that was already accepted"
            )
        now = self._clock.now()
        if row.expires_at <= now:
            raise InvitationExpiredError(
                f"expected an unexpired invitation; received one that expired at "
                f"{row.expires_at.isoformat()}. Ask for a new one."
            )
        tenant = await TenantRecordRepository(uow.session).get_one(row.tenant_id)
        if Feature.TEAM_MEMBERS not in limits_of(tenant).features:
            raise FeatureNotInTierError(
                f"joining a team needs a tier with {Feature.TEAM_MEMBERS.value}; the "
                f"inviting tenant is on {tenant.tier}"
            )
        if await lookup.user_by_email(row.email) is not None:
            raise EmailAlreadyRegisteredError(
                "expected an invitation for an address without an account; this address "
                "already has one"
            )
        require_strong_password(password, row.email)
        context = tenant_context_for(row.tenant_id)
        user = await UserRepository(uow.session, context).add_user(
            User(
                email=row.email,
                password_hash=await self._passwords.hash(password),
                name=validate_name(name),
                locale=DEFAULT_LOCALE,
                timezone=DEFAULT_TIMEZONE,
                role=row.role,
                is_superadmin=False,
                is_active=True,
                # The token reached the invited inbox, which proves the address.
                email_verified_at=now,
            )
        )
        if not await InvitationRepository(uow.session, context).accept(
            row.id, now=now, user_id=user.id
        ):
            raise InvitationUsedError(
                "an invitation works once; received one accepted concurrently"
            )
        return AcceptedInvitation(UserId(user.id), TenantId(row.tenant_id), Role(row.role))
