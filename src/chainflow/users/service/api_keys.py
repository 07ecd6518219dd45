"""API keys for MT5 terminals and scripts: create (shown once), list, revoke.

A key's effective scopes are those it was created with, intersected at every use with the
scopes its creator's role grants then (``users.resolver``): demoting a user narrows their
keys at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from chainflow.core.auth import ROLE_SCOPES, Permission, Principal, Scope
from chainflow.core.clock import Clock
from chainflow.core.tokens import generate_api_key, hash_api_key
from chainflow.hub.api import EventBus
from chainflow.storage.relational import UnitOfWork
from chainflow.users.api import ApiKeyId
from chainflow.users.errors import (
    ApiKeyNotFoundError,
    InvalidNameError,
    InvalidScopeError,
    ScopeNotAllowedError,
)
from chainflow.users.events import ApiKeyCreated, api_key_created_topic, publish_after_commit
from chainflow.users.models import ApiKey
from chainflow.users.repository import ApiKeyRepository
from chainflow.users.service.context import PrincipalCacheInvalidation, require_session

MAX_KEY_NAME_LENGTH = 100


@dataclass(frozen=True, slots=True)
class ApiKeySummary:
    """A key as listed: never the key itself, only its public prefix."""

    id: ApiKeyId
    name: str
    prefix: str
    scopes: tuple[Scope, ...]
    created_by: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    """A new key; ``key`` is shown this once and never stored."""

    key: str
    summary: ApiKeySummary


def parse_scopes(raw: Sequence[str]) -> tuple[Scope, ...]:
    """Return ``raw`` as known scopes, de-duplicated; raise ``InvalidScopeError`` otherwise."""
    if not raw:
        raise InvalidScopeError(
            f"scopes must name at least one of {', '.join(Scope)}; received an empty list"
        )
    scopes: list[Scope] = []
    for value in raw:
        try:
            scope = Scope(value)
        except ValueError as e:
            raise InvalidScopeError(
                f"each scope must be one of {', '.join(Scope)}; received {value[:40]!r}"
            ) from e
        if scope not in scopes:
            scopes.append(scope)
    return tuple(scopes)


def _summary(row: ApiKey) -> ApiKeySummary:
    return ApiKeySummary(
        id=ApiKeyId(row.id),
        name=row.name,
        prefix=row.prefix,
        scopes=tuple(Scope(s) for s in row.scopes),
        created_by=row.created_by,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


class ApiKeyService:
    """Tenant members with ``api_keys:manage`` manage their keys; tenant managers see all."""

    def __init__(
        self,
        *,
        clock: Clock,
        invalidation: PrincipalCacheInvalidation,
        bus: EventBus | None = None,
    ) -> None:
        self._clock = clock
        self._invalidation = invalidation
        self._bus = bus

    async def create(
        self, uow: UnitOfWork, principal: Principal, name: str, scopes: Sequence[str]
    ) -> CreatedApiKey:
        """Create a key with ``scopes`` (each one the caller's role grants); return it once."""
        require_session(principal, "creating an API key")
        key_name = name.strip()
        if not 1 <= len(key_name) <= MAX_KEY_NAME_LENGTH:
            raise InvalidNameError(
                f"an API key name must be 1 to {MAX_KEY_NAME_LENGTH} characters long; "
                f"received {len(key_name)} characters"
            )
        wanted = parse_scopes(scopes)
        granted = ROLE_SCOPES[principal.role]
        refused = [s.value for s in wanted if s not in granted]
        if refused:
            raise ScopeNotAllowedError(
                f"the role {principal.role.value} may create keys with scopes "
                f"{', '.join(sorted(granted))}; received {', '.join(refused)}"
            )
        key, prefix = generate_api_key()
        row = await ApiKeyRepository(uow.session, principal.tenant).add(
            ApiKey(
                name=key_name,
                prefix=prefix,
                key_hash=hash_api_key(key),
                scopes=[s.value for s in wanted],
                created_by=principal.user_id,
                created_at=self._clock.now(),
            )
        )
        if self._bus is not None:  # a security notice to the creator, without the key
            event = ApiKeyCreated(
                user_id=principal.user_id,
                tenant_id=principal.tenant_id,
                api_key_id=row.id,
                name=row.name,
                scopes=tuple(s.value for s in wanted),
                ts_event_ms=self._clock.now_ms(),
            )
            publish_after_commit(uow, self._bus, api_key_created_topic(), event)
        return CreatedApiKey(key=key, summary=_summary(row))

    async def list_keys(self, uow: UnitOfWork, principal: Principal) -> list[ApiKeySummary]:
        """Return the active keys the caller may see (all the tenant's for managers)."""
        repository = ApiKeyRepository(uow.session, principal.tenant)
        rows = await repository.list_active(created_by=self._visible_creator(principal))
        return [_summary(row) for row in rows]

    async def revoke(self, uow: UnitOfWork, principal: Principal, key_id: str) -> None:
        """Revoke a key; one of another tenant (or another member's) is not found."""
        require_session(principal, "revoking an API key")
        repository = ApiKeyRepository(uow.session, principal.tenant)
        row = await repository.get_active(key_id)
        creator = self._visible_creator(principal)
        if row is None or (creator is not None and row.created_by != creator):
            raise ApiKeyNotFoundError(
                f"expected the id of an active API key you manage; received {key_id[:64]!r}"
            )
        row.revoked_at = self._clock.now()
        self._invalidation.after_commit(uow, api_key_hashes=[row.key_hash])

    @staticmethod
    def _visible_creator(principal: Principal) -> str | None:
        return None if principal.has_permission(Permission.TENANT_MANAGE) else principal.user_id
