"""Events the users service publishes, their topic builders, and the after-commit publisher.

``VerificationRequested``, ``PasswordResetRequested`` and ``InvitationCreated`` carry the
raw single-use token: the notification hub turns them into e-mails. They go on the bus
only, never into logs (the log redaction masks any ``token`` field as well).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from chainflow.core.logging import get_logger
from chainflow.core.messages import Event, topic
from chainflow.hub.api import EventBus
from chainflow.storage.relational import UnitOfWork

log = get_logger("chainflow.users.events")


@dataclass(frozen=True, slots=True)
class VerificationRequested(Event):
    """A user must confirm their e-mail address with ``token`` before ``expires_at_ms``."""

    user_id: str
    tenant_id: str
    email: str
    locale: str
    token: str
    expires_at_ms: int
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class PasswordResetRequested(Event):
    """A user asked to reset their password; ``token`` allows it once before expiry."""

    user_id: str
    tenant_id: str
    email: str
    locale: str
    token: str
    expires_at_ms: int
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class InvitationCreated(Event):
    """``email`` was invited into ``tenant_id`` as ``role``; ``token`` accepts it once."""

    invitation_id: str
    tenant_id: str
    email: str
    role: str
    invited_by: str
    token: str
    expires_at_ms: int
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class SignInLocked(Event):
    """``failed_attempts`` sign-ins to ``email`` within ``window_s`` seconds did not succeed
    and another came, so sign-ins are locked for ``lock_s`` seconds (until
    ``locked_until_ms``); the owner should hear of it.

    ``ip`` is the client address of the attempt that started the lock.
    """

    user_id: str
    tenant_id: str
    email: str
    locale: str
    failed_attempts: int
    window_s: float
    lock_s: float
    locked_until_ms: int
    ip: str | None
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class DuplicateRegistrationAttempted(Event):
    """Someone tried to register ``email``, which already has an account; nothing was
    created and the caller was answered as for a new account. Tell the owner (who can sign
    in or reset the password)."""

    user_id: str
    tenant_id: str
    email: str
    locale: str
    ip: str | None
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class TierChanged(Event):
    """A tenant's subscription tier changed."""

    tenant_id: str
    previous_tier: str
    tier: str
    changed_by: str | None
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class SignedIn(Event):
    """``user_id`` signed in with a password from ``ip`` (None when unknown). The
    notification hub keeps the addresses each user signed in from and tells them of a new
    one (the first sign-in ever is not news)."""

    user_id: str
    tenant_id: str
    email: str
    locale: str
    ip: str | None
    user_agent: str | None
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class ApiKeyCreated(Event):
    """``user_id`` created the API key ``api_key_id`` named ``name``. Never the key itself
    (nor its prefix): the event says that a key exists, not what it is."""

    user_id: str
    tenant_id: str
    api_key_id: str
    name: str
    scopes: tuple[str, ...]
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class PasswordChanged(Event):
    """The password of ``user_id`` changed (``ip``/``user_agent`` of the request, when
    known); every session was signed out."""

    user_id: str
    tenant_id: str
    email: str
    locale: str
    ip: str | None
    user_agent: str | None
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class EmailChanged(Event):
    """The sign-in address of ``user_id`` changed from ``old_email`` to ``new_email``; the
    hub tells the old address."""

    user_id: str
    tenant_id: str
    old_email: str
    new_email: str
    locale: str
    ip: str | None
    user_agent: str | None
    ts_event_ms: int


def verification_requested_topic() -> str:
    return topic("users", "verification", "requested")


def password_reset_requested_topic() -> str:
    return topic("users", "password_reset", "requested")


def invitation_created_topic() -> str:
    return topic("users", "invitation", "created")


def tier_changed_topic() -> str:
    return topic("users", "tier", "changed")


def sign_in_locked_topic() -> str:
    return topic("users", "sign_in", "locked")


def duplicate_registration_attempted_topic() -> str:
    return topic("users", "registration", "duplicate_attempted")


def signed_in_topic() -> str:
    return topic("users", "sign_in", "succeeded")


def api_key_created_topic() -> str:
    return topic("users", "api_key", "created")


def password_changed_topic() -> str:
    return topic("users", "password", "changed")


def email_changed_topic() -> str:
    return topic("users", "email", "changed")


def publish_after_commit(uow: UnitOfWork, bus: EventBus, subject: str, event: Event) -> None:
    """Publish ``event`` on ``subject`` once ``uow`` commits; drop it on rollback.

    A failed publish is logged (without the payload) and does not fail the request: the
    data is committed by then, and the caller can ask for a fresh token.
    """

    async def publish() -> None:
        await publish_now(bus, subject, event)

    uow.after_commit(publish)


async def publish_now(bus: EventBus, subject: str, event: Event) -> None:
    """Publish ``event`` on ``subject`` now (it records no database change).

    A failed publish is logged (without the payload) and does not fail the request.
    """
    data = json.dumps(event.to_dict()).encode()
    try:
        await bus.publish(subject, data)
    except Exception as e:
        log.warning(
            "users_event_publish_failed",
            subject=subject,
            event_type=type(event).__name__,
            error=type(e).__name__,
        )
