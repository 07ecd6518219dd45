"""What the hub is told: bus events turned into ``NotifyEvent`` values by per-source parsers.

The hub never imports the publishing services' event classes (their modules are private):
each parser reads the documented JSON payload of one subject. The runtime binds every
parser to its subject (``EventSource``) with the publisher's own topic builder. The ml
service's live alerts (``ml.alerts.<tenant>``) have their own consumer and parser,
``notify.model_alerts.parse_model_alert``; their kinds are listed in ``EVENT_KINDS`` here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chainflow.core.errors import MalformedEventError
from chainflow.notify.channels.base import SEVERITIES

__all__ = [
    "EVENT_KINDS",
    "SECURITY_KINDS",
    "EventGate",
    "EventSource",
    "NotifyEvent",
    "Parser",
    "event_id_of",
    "idempotency_key",
    "PARSERS",
]


@dataclass(frozen=True, slots=True)
class NotifyEvent:
    """One thing to tell people about, before recipients and channels are chosen.

    ``user_id`` names the one user it concerns (None: every member of the tenant);
    ``email`` is a fixed address (identity e-mails, invitations), which makes the event
    ``mandatory``: e-mail only, no preferences, no quiet hours; ``phone`` likewise, by SMS
    (a phone number's one-time code). ``sensitive`` events carry a
    secret (a single-use token) whose message body is erased once delivered.
    """

    event_id: str
    kind: str
    tenant_id: str
    severity: str
    occurred_at_ms: int
    data: Mapping[str, Any]
    user_id: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    symbol: str | None = None
    sensitive: bool = False
    only_channel: str | None = None  # a test-send: this channel, whatever the preferences
    roles: tuple[str, ...] = ()  # only members with one of these roles (empty: every role)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"severity must be one of {', '.join(SEVERITIES)}; received {self.severity!r}"
            )

    @property
    def mandatory(self) -> bool:
        """Return whether preferences and quiet hours do not apply (a fixed address)."""
        return self.email is not None or self.phone is not None


Parser = Callable[[str, Mapping[str, Any], str], NotifyEvent | None]
EventGate = Callable[[NotifyEvent], Awaitable[NotifyEvent | None]]


@dataclass(frozen=True, slots=True)
class EventSource:
    """A durable bus consumer: ``subject`` (may hold wildcards), read with ``parse``.

    ``gate``, when set, sees each parsed event before it is queued and may drop it (None)
    or return it changed: it may read and write the database (a sign-in from a known
    address is dropped); it must decide the same for a redelivered event.
    """

    durable: str
    subject: str
    parse: Parser
    options: Mapping[str, Any] = field(default_factory=dict)
    gate: EventGate | None = None


def event_id_of(subject: str, data: bytes) -> str:
    """Return a stable id of one published event (a redelivery has the same id)."""
    return hashlib.sha256(subject.encode() + b"\n" + data).hexdigest()


def idempotency_key(event_id: str, recipient: str, channel: str, address: str) -> str:
    """Return the outbox key of (event, recipient, channel, address): sent at most once."""
    raw = "\n".join((event_id, recipient, channel, address)).encode()
    return hashlib.sha256(raw).hexdigest()


def _text(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedEventError(f"expected a non-empty string field {name!r}; received {value!r}")
    return value


def _int(payload: Mapping[str, Any], name: str) -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedEventError(f"expected an integer field {name!r}; received {value!r}")
    return value


def _identity(kind: str, *, severity: str, sensitive: bool) -> Parser:
    """Parse a users-service e-mail event (verification, reset, lock, duplicate sign-up)."""

    def parse(_subject: str, payload: Mapping[str, Any], event_id: str) -> NotifyEvent:
        return NotifyEvent(
            event_id=event_id,
            kind=kind,
            tenant_id=_text(payload, "tenant_id"),
            severity=severity,
            occurred_at_ms=_int(payload, "ts_event_ms"),
            data=dict(payload),
            user_id=payload.get("user_id") or None,
            email=_text(payload, "email"),
            locale=payload.get("locale") or None,
            sensitive=sensitive,
        )

    return parse


def _parse_invitation(_subject: str, payload: Mapping[str, Any], event_id: str) -> NotifyEvent:
    return NotifyEvent(
        event_id=event_id,
        kind="invitation",
        tenant_id=_text(payload, "tenant_id"),
        severity="info",
        occurred_at_ms=_int(payload, "ts_event_ms"),
        data=dict(payload),
        email=_text(payload, "email"),
        sensitive=True,
    )


def _parse_circuit_breaker(
    _subject: str, payload: Mapping[str, Any], event_id: str
) -> NotifyEvent | None:
    if payload.get("type") != "circuit_breaker":
        return None
    return NotifyEvent(
        event_id=event_id,
        kind="circuit_breaker",
        tenant_id=_text(payload, "tenant_id"),
        severity="critical",
        occurred_at_ms=_int(payload, "ts"),
        data=dict(payload),
    )


def _parse_backtest_finished(
    _subject: str, payload: Mapping[str, Any], event_id: str
) -> NotifyEvent | None:
    user_id = payload.get("user_id")
    if not user_id:
        return None  # a job nobody started by hand (none today): nobody to tell
    return NotifyEvent(
        event_id=event_id,
        kind="backtest_finished",
        tenant_id=_text(payload, "tenant_id"),
        severity="info" if payload.get("status") == "succeeded" else "warning",
        occurred_at_ms=_int(payload, "ts"),
        data=dict(payload),
        user_id=str(user_id),
        symbol=payload.get("symbol") or None,
    )


BILLING_ROLES = ("owner", "admin")


def _billing(kind: str, *, severity: str) -> Parser:
    """Parse a billing reminder (renewal due, payment failed, subscription expiring): it goes
    to the tenant's owners and admins."""

    def parse(_subject: str, payload: Mapping[str, Any], event_id: str) -> NotifyEvent:
        return NotifyEvent(
            event_id=event_id,
            kind=kind,
            tenant_id=_text(payload, "tenant_id"),
            severity=severity,
            occurred_at_ms=_int(payload, "ts_event_ms"),
            data=dict(payload),
            roles=BILLING_ROLES,
        )

    return parse


CHANNEL_NAMES: Mapping[str, str] = {
    "email": "e-mail",
    "telegram": "Telegram",
    "sms": "SMS",
    "push": "push",
}


def _parse_binding_disabled(
    _subject: str, payload: Mapping[str, Any], event_id: str
) -> NotifyEvent:
    # ``channel`` names the disabled binding; templates get it as ``channel_name`` because
    # ``channel`` there is the channel the notice itself is rendered for.
    disabled = _text(payload, "channel")
    return NotifyEvent(
        event_id=event_id,
        kind="binding_disabled",
        tenant_id=_text(payload, "tenant_id"),
        severity="warning",
        occurred_at_ms=_int(payload, "ts"),
        data={**payload, "channel_name": CHANNEL_NAMES.get(disabled, disabled)},
        user_id=_text(payload, "user_id"),
    )


SECURITY_KINDS: tuple[str, ...] = (
    "new_sign_in",
    "api_key_created",
    "password_changed",
    "email_changed",
)
"""Security notices: ``critical``, so quiet hours, digests and a minimum severity never hold
them back (only an explicit empty channel list for the kind mutes one)."""

MAX_USER_AGENT = 200


def _client_fields(payload: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """Return the named fields plus time, IP and user agent: never the whole payload, so
    nothing a publisher adds later (a token, a key) can reach a message."""
    agent = payload.get("user_agent")
    fields = {name: payload.get(name) for name in names}
    return {
        **fields,
        "ts_event_ms": _int(payload, "ts_event_ms"),
        "ip": payload.get("ip") or None,
        "user_agent": agent[:MAX_USER_AGENT] if isinstance(agent, str) and agent else None,
    }


def _security(kind: str, *names: str) -> Parser:
    """Parse a security event of one user (sign-in, API key created, password changed)."""

    def parse(_subject: str, payload: Mapping[str, Any], event_id: str) -> NotifyEvent:
        return NotifyEvent(
            event_id=event_id,
            kind=kind,
            tenant_id=_text(payload, "tenant_id"),
            severity="critical",
            occurred_at_ms=_int(payload, "ts_event_ms"),
            data=_client_fields(payload, *names),
            user_id=_text(payload, "user_id"),
        )

    return parse


def _parse_email_changed(_subject: str, payload: Mapping[str, Any], event_id: str) -> NotifyEvent:
    # to the old address: the one whose owner must hear that the account moved away
    return NotifyEvent(
        event_id=event_id,
        kind="email_changed",
        tenant_id=_text(payload, "tenant_id"),
        severity="critical",
        occurred_at_ms=_int(payload, "ts_event_ms"),
        data=_client_fields(payload, "old_email", "new_email"),
        user_id=_text(payload, "user_id"),
        email=_text(payload, "old_email"),
        locale=payload.get("locale") or None,
    )


PARSERS: Mapping[str, Parser] = {
    "verification": _identity("verification", severity="info", sensitive=True),
    "password_reset": _identity("password_reset", severity="info", sensitive=True),
    "sign_in_locked": _identity("sign_in_locked", severity="warning", sensitive=False),
    "duplicate_registration": _identity("duplicate_registration", severity="info", sensitive=False),
    "invitation": _parse_invitation,
    "circuit_breaker": _parse_circuit_breaker,
    "backtest_finished": _parse_backtest_finished,
    "binding_disabled": _parse_binding_disabled,
    "renewal_due": _billing("renewal_due", severity="warning"),
    "payment_failed": _billing("payment_failed", severity="warning"),
    "subscription_expiring": _billing("subscription_expiring", severity="warning"),
    "new_sign_in": _security("new_sign_in", "email"),
    "api_key_created": _security("api_key_created", "api_key_id", "name", "scopes"),
    "password_changed": _security("password_changed", "email"),
    "email_changed": _parse_email_changed,
}

EVENT_KINDS: tuple[str, ...] = (
    "verification",
    "password_reset",
    "invitation",
    "sign_in_locked",
    "duplicate_registration",
    "circuit_breaker",
    "model_underperforming",
    "model_recovered",
    "model_drifting",
    "model_fallback",
    "model_retrained",
    "backtest_finished",
    "binding_disabled",
    "renewal_due",
    "payment_failed",
    "subscription_expiring",
    *SECURITY_KINDS,
    "terminal_disconnected",
    "terminal_reconnected",
    "digest",
    "phone_verification",
    "test",
)
