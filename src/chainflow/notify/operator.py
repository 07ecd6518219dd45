"""The operator's view of one user's notifications (``chainflow notify``): preferences shown
and changed, a test message delivered, the delivery log. The user is named by e-mail.

``apply_change`` is the pure rule that turns one command line into new preferences; the
runtime supplies ``Accounts`` (the users service's tables) and the ``NotifyService``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import time
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from chainflow.core.auth import TierLimits
from chainflow.core.ids import TenantId
from chainflow.core.tenancy import TenantContext
from chainflow.notify.channels.base import CHANNELS, SEVERITIES
from chainflow.notify.errors import (
    NotificationAccountNotFoundError,
    PreferenceChangeInvalidError,
)
from chainflow.notify.events import EVENT_KINDS
from chainflow.notify.preferences import Preferences, QuietHours
from chainflow.notify.service import NotifyService

__all__ = [
    "PREFERENCE_KINDS",
    "Account",
    "Accounts",
    "NotifyOperator",
    "PreferenceChange",
    "apply_change",
    "parse_quiet_hours",
]

# Kinds sent to a fixed address whatever the preferences say, and the hub's own messages.
FIXED_KINDS = frozenset(
    {
        "verification",
        "password_reset",
        "invitation",
        "sign_in_locked",
        "duplicate_registration",
        "email_changed",
        "phone_verification",
        "digest",
        "test",
    }
)
PREFERENCE_KINDS: tuple[str, ...] = tuple(k for k in EVENT_KINDS if k not in FIXED_KINDS)
DIGESTS = ("off", "hourly", "daily")
SETTLED = ("sent", "failed", "dead")
WAIT_STEP_S = 0.1


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the operator names them, with what the checks need."""

    tenant_id: str
    user_id: str
    email: str
    timezone: str
    tier: str
    limits: TierLimits

    @property
    def tenant(self) -> TenantContext:
        return TenantContext(tenant_id=TenantId(self.tenant_id))


class Accounts(Protocol):
    async def by_email(self, email: str) -> Account | None:
        """Return the active account of ``email`` (any tenant), or None."""
        ...

    async def set_timezone(self, account: Account, timezone: str) -> None:
        """Store the user's IANA time zone (quiet hours and digests follow it)."""
        ...


@dataclass(frozen=True, slots=True)
class PreferenceChange:
    """One ``chainflow notify prefs set``; None leaves a field as it is.

    ``event`` with ``channel`` and ``enabled`` turns one channel of one kind on or off;
    ``event`` alone with ``enabled`` False mutes the kind, True returns it to the default
    channels; ``channel`` alone turns a default channel on or off.
    """

    event: str | None = None
    channel: str | None = None
    enabled: bool | None = None
    min_severity: str | None = None
    quiet_hours: str | None = None  # "22:00-07:00" or "off"
    timezone: str | None = None
    digest: str | None = None

    @property
    def is_empty(self) -> bool:
        return all(
            value is None
            for value in (self.event, self.channel, self.enabled, self.min_severity)
            + (self.quiet_hours, self.timezone, self.digest)
        )


def _invalid(message: str) -> PreferenceChangeInvalidError:
    return PreferenceChangeInvalidError(message)


def parse_quiet_hours(text: str) -> QuietHours | None:
    """Return ``HH:MM-HH:MM`` as quiet hours, ``off`` as None; raise on anything else."""
    if text.strip().lower() == "off":
        return None
    start, sep, end = text.strip().partition("-")
    try:
        if not sep:
            raise ValueError("no '-'")
        hours = QuietHours(start=time.fromisoformat(start), end=time.fromisoformat(end))
    except ValueError as e:
        raise _invalid(
            f"expected quiet hours as HH:MM-HH:MM (e.g. 22:00-07:00) or off; received {text[:40]!r}"
        ) from e
    if hours.start == hours.end:
        raise _invalid(f"expected quiet hours that end after they start; received {text!r}")
    return hours


def check_timezone(name: str) -> str:
    """Return ``name`` if it is an IANA time zone; raise otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise _invalid(
            f"expected an IANA time zone such as Asia/Jakarta; received {name[:60]!r}"
        ) from e
    return name


def _toggled(channels: tuple[str, ...], channel: str, enabled: bool) -> tuple[str, ...]:
    kept = tuple(c for c in channels if c != channel)
    return (*kept, channel) if enabled else kept


def apply_change(preferences: Preferences, change: PreferenceChange) -> Preferences:
    """Return ``preferences`` with ``change`` applied; raise ``PreferenceChangeInvalidError``
    naming the first bad value."""
    if change.event is not None and change.event not in PREFERENCE_KINDS:
        raise _invalid(
            f"expected an event from {', '.join(PREFERENCE_KINDS)}; received {change.event!r}"
        )
    if change.channel is not None and change.channel not in CHANNELS:
        raise _invalid(
            f"expected a channel from {', '.join(CHANNELS)}; received {change.channel!r}"
        )
    if change.channel is not None and change.enabled is None:
        raise _invalid("expected --on or --off with --channel")
    if change.enabled is not None and change.event is None and change.channel is None:
        raise _invalid("expected --event or --channel with --on/--off")
    if change.min_severity is not None and change.min_severity not in SEVERITIES:
        raise _invalid(
            f"expected a severity from {', '.join(SEVERITIES)}; received {change.min_severity!r}"
        )
    if change.digest is not None and change.digest not in DIGESTS:
        raise _invalid(f"expected a digest from {', '.join(DIGESTS)}; received {change.digest!r}")
    document = preferences.model_dump(mode="json")
    events: dict[str, list[str]] = {k: list(v) for k, v in preferences.events.items()}
    if change.enabled is not None and change.event is not None:
        if change.channel is None:
            if change.enabled:
                events.pop(change.event, None)  # back to the default channels
            else:
                events[change.event] = []  # muted
        else:
            current = tuple(events.get(change.event, preferences.default_channels))
            events[change.event] = list(_toggled(current, change.channel, change.enabled))
    elif change.enabled is not None and change.channel is not None:
        document["default_channels"] = list(
            _toggled(preferences.default_channels, change.channel, change.enabled)
        )
    document["events"] = events
    if change.min_severity is not None:
        document["min_severity"] = change.min_severity
    if change.quiet_hours is not None:
        hours = parse_quiet_hours(change.quiet_hours)
        document["quiet_hours"] = None if hours is None else hours.model_dump(mode="json")
    if change.digest is not None:
        document["digest"] = change.digest
    try:
        return Preferences.model_validate(document)
    except ValidationError as e:
        raise _invalid(f"the preferences would not be valid: {e.errors()[0]['msg']}") from e


class NotifyOperator:
    """``chainflow notify``'s tasks on a kernel (through the ``NotifyService``)."""

    def __init__(self, *, service: NotifyService, accounts: Accounts) -> None:
        self._service = service
        self._accounts = accounts

    async def close(self) -> None:
        """Release the channels' connections."""
        await self._service.channels.close()

    async def account(self, email: str) -> Account:
        """Return the account of ``email``; raise ``NotificationAccountNotFoundError``."""
        account = await self._accounts.by_email(email)
        if account is None:
            raise NotificationAccountNotFoundError(f"no account for {email}")
        return account

    async def show(self, email: str) -> dict[str, Any]:
        """Return the user's preferences with who they are and their time zone."""
        account = await self.account(email)
        preferences = await self._service.preferences(account.tenant, account.user_id)
        return _described(account, preferences)

    async def change(self, email: str, change: PreferenceChange) -> dict[str, Any]:
        """Apply ``change`` to the user's preferences (tier checked) and return them."""
        if change.is_empty:
            raise _invalid("expected at least one change (see --help)")
        if change.timezone is not None:
            check_timezone(change.timezone)
        account = await self.account(email)
        current = await self._service.preferences(account.tenant, account.user_id)
        updated = apply_change(current, change)
        await self._service.store_preferences(
            account.tenant, account.user_id, updated, limits=account.limits, tier=account.tier
        )
        if change.timezone is not None:
            await self._accounts.set_timezone(account, change.timezone)
            account = await self.account(email)
        return _described(account, updated)

    async def test(self, email: str, channel: str, *, wait_s: float) -> dict[str, Any]:
        """Queue a test message to the user on ``channel`` and deliver it (here, or by the
        server that owns the database); return the messages with their final state."""
        account = await self.account(email)
        queued = await self._service.send_test(account.tenant_id, account.user_id, channel)
        items: list[dict[str, Any]] = []
        for _ in range(max(1, int(wait_s / WAIT_STEP_S))):
            await self._service.worker.drain()
            rows = await self._service.log_of(
                account.tenant, account.user_id, limit=queued, state=None
            )
            items = [r.model_dump(mode="json") for r in rows if r.event_type == "test"]
            if items and all(item["state"] in SETTLED for item in items):
                break
            await asyncio.sleep(WAIT_STEP_S)
        return {"email": account.email, "channel": channel, "queued": queued, "items": items}

    async def log(self, email: str, *, limit: int, state: str | None) -> dict[str, Any]:
        """Return the user's delivery log, newest first."""
        account = await self.account(email)
        rows = await self._service.log_of(account.tenant, account.user_id, limit=limit, state=state)
        return {"email": account.email, "items": [r.model_dump(mode="json") for r in rows]}


def _described(account: Account, preferences: Preferences) -> dict[str, Any]:
    return {
        "email": account.email,
        "tenant_id": account.tenant_id,
        "user_id": account.user_id,
        "timezone": account.timezone,
        "tier": account.tier,
        "preferences": preferences.model_dump(mode="json"),
        "effective": {
            kind: list(preferences.events.get(kind, preferences.default_channels))
            for kind in PREFERENCE_KINDS
        },
    }
