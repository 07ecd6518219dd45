"""Users' push subscriptions, FCM tokens and phone numbers: the hub's push and SMS addresses.

A push device (a browser's Web Push subscription, an app's FCM token) is usable once
stored. A phone number is usable once verified: ``register`` stores it and sends a
six-digit code to it by SMS (through the outbox, like any message); ``verify`` confirms
it, within ``CODE_TTL`` and ``MAX_CODE_ATTEMPTS`` tries; a new code is sent at most once per
``CODE_RESEND_AFTER``. Only the code's SHA-256 is kept. ``addresses`` is the hub's view
(``AddressBook``): enabled push devices and verified phones.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from chainflow.core.auth import Principal
from chainflow.core.clock import Clock
from chainflow.core.errors import RateLimited
from chainflow.core.ids import TenantId
from chainflow.core.tenancy import TenantContext
from chainflow.notify.errors import DeviceNotFoundError, PhoneCodeInvalidError
from chainflow.notify.models import NotificationDevice
from chainflow.notify.schemas import DeviceRead
from chainflow.storage.relational import Database, TenantRepository

__all__ = [
    "DeviceBook",
    "DeviceRepository",
    "NewDevice",
    "SendCode",
    "address_hash",
    "device_read",
]

CODE_TTL = timedelta(minutes=10)
CODE_RESEND_AFTER = timedelta(seconds=60)
MAX_CODE_ATTEMPTS = 5
CODE_DIGITS = 6

SendCode = Callable[[Principal, str, str, datetime], Awaitable[None]]
"""Queue the SMS carrying a code: (caller, phone number, code, expires at)."""


@dataclass(frozen=True, slots=True)
class NewDevice:
    """A validated device to store: its channel, kind, address and label."""

    channel: str  # "push" | "sms"
    kind: str  # "webpush" | "fcm" | "sms"
    address: str
    label: str | None


def address_hash(address: str) -> str:
    """Return the stored key of an address (addresses may be longer than an index allows)."""
    return hashlib.sha256(address.encode()).hexdigest()


def _hint(row: NotificationDevice) -> str:
    if row.kind == "sms":
        return f"{row.address[:3]}…{row.address[-3:]}"
    if row.kind == "fcm":
        return f"fcm:{row.address[4:12]}…"
    endpoint = str(json.loads(row.address).get("endpoint", ""))
    return urlsplit(endpoint).hostname or "web push"


def device_read(row: NotificationDevice) -> DeviceRead:
    """Return the API view of a device (the address itself is never echoed whole)."""
    return DeviceRead(
        id=row.id,
        channel=row.channel,
        kind=row.kind,
        label=row.label,
        address_hint=_hint(row),
        enabled=row.enabled,
        verified=row.kind != "sms" or row.verified_at is not None,
        created_at=row.created_at,
    )


def _code_hash(device_id: str, code: str) -> str:
    return hashlib.sha256(f"{device_id}:{code}".encode()).hexdigest()


class DeviceRepository(TenantRepository[NotificationDevice]):
    async def for_user(self, user_id: str) -> Sequence[NotificationDevice]:
        statement = (
            self._select()
            .where(NotificationDevice.user_id == user_id)
            .order_by(NotificationDevice.created_at, NotificationDevice.id)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def find(self, user_id: str, device_id: str) -> NotificationDevice | None:
        statement = self._select().where(
            NotificationDevice.user_id == user_id, NotificationDevice.id == device_id
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def usable(self, user_id: str) -> Sequence[NotificationDevice]:
        """Return the user's enabled devices, phones only once verified."""
        statement = self._select().where(
            NotificationDevice.user_id == user_id,
            NotificationDevice.enabled.is_(True),
            (NotificationDevice.kind != "sms") | NotificationDevice.verified_at.is_not(None),
        )
        return (await self.session.execute(statement)).scalars().all()

    async def enabled_at(self, channel: str, address: str) -> Sequence[NotificationDevice]:
        """Return the enabled devices of any user of the tenant at ``address``."""
        statement = self._select().where(
            NotificationDevice.channel == channel,
            NotificationDevice.address_hash == address_hash(address),
            NotificationDevice.enabled.is_(True),
        )
        return (await self.session.execute(statement)).scalars().all()

    async def by_address(self, user_id: str, address: str) -> NotificationDevice | None:
        statement = self._select().where(
            NotificationDevice.user_id == user_id,
            NotificationDevice.address_hash == address_hash(address),
        )
        return (await self.session.execute(statement)).scalar_one_or_none()


class DeviceBook:
    """Registers, verifies, lists and removes devices; the hub's push and SMS address book."""

    def __init__(self, *, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def register(
        self, principal: Principal, device: NewDevice, send_code: SendCode
    ) -> DeviceRead:
        """Store ``device`` for the caller (again: the same row); text a code to a phone."""
        tenant, user_id, now = principal.tenant, str(principal.user_id), self._clock.now()
        code: str | None = None
        async with self._database.unit_of_work(tenant) as uow:
            devices = DeviceRepository(uow.session, tenant)
            row = await devices.by_address(user_id, device.address)
            if row is None:
                row = await devices.add(
                    NotificationDevice(
                        user_id=user_id,
                        channel=device.channel,
                        kind=device.kind,
                        address=device.address,
                        address_hash=address_hash(device.address),
                        label=device.label,
                        enabled=True,
                        code_attempts=0,
                    )
                )
            else:
                row.enabled = True
                row.label = device.label or row.label
            if device.kind == "sms" and row.verified_at is None:
                code = self._issue_code(row, now)
            await uow.session.flush()
            read, expires_at = device_read(row), row.code_expires_at
        if code is not None and expires_at is not None:
            await send_code(principal, device.address, code, expires_at)
        return read

    def _issue_code(self, row: NotificationDevice, now: datetime) -> str:
        if row.code_expires_at is not None:
            issued_at = row.code_expires_at - CODE_TTL
            if now - issued_at < CODE_RESEND_AFTER:
                wait = (issued_at + CODE_RESEND_AFTER - now).total_seconds()
                raise RateLimited(
                    f"expected at most one code per {int(CODE_RESEND_AFTER.total_seconds())} s "
                    f"to a number; wait {wait:.0f} s",
                    retry_after_s=wait,
                )
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        row.code_hash = _code_hash(row.id, code)
        row.code_expires_at = now + CODE_TTL
        row.code_attempts = 0
        return code

    async def verify(self, principal: Principal, device_id: str, code: str) -> DeviceRead:
        """Confirm the caller's phone with its code; raise ``PhoneCodeInvalidError``."""
        tenant, now = principal.tenant, self._clock.now()
        failure: str | None = None
        async with self._database.unit_of_work(tenant) as uow:
            devices = DeviceRepository(uow.session, tenant)
            row = await devices.find(str(principal.user_id), device_id)
            if row is None or row.kind != "sms":
                raise DeviceNotFoundError(
                    f"expected the id of one of your phone numbers; received {device_id[:64]!r}"
                )
            if row.verified_at is None:
                failure = self._check_code(row, code, now)
                if failure is None:
                    row.verified_at, row.code_hash, row.code_expires_at = now, None, None
            await uow.session.flush()
            read = device_read(row)
        if failure is not None:  # raised after the commit: the failed try is counted
            raise PhoneCodeInvalidError(f"expected the code sent to this number; {failure}")
        return read

    @staticmethod
    def _check_code(row: NotificationDevice, code: str, now: datetime) -> str | None:
        if row.code_hash is None or row.code_expires_at is None:
            return "no code is pending: register the number again for a new one"
        if row.code_expires_at <= now:
            return "the code expired: register the number again for a new one"
        if row.code_attempts >= MAX_CODE_ATTEMPTS:
            return f"{MAX_CODE_ATTEMPTS} wrong codes were tried: register the number again"
        row.code_attempts += 1
        if not hmac.compare_digest(_code_hash(row.id, code.strip()), row.code_hash):
            left = MAX_CODE_ATTEMPTS - row.code_attempts
            return f"received a wrong one ({left} tries left)"
        return None

    async def list(self, principal: Principal) -> list[DeviceRead]:
        """Return the caller's devices, oldest first."""
        tenant = principal.tenant
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            rows = await DeviceRepository(uow.session, tenant).for_user(str(principal.user_id))
            return [device_read(row) for row in rows]

    async def delete(self, principal: Principal, device_id: str) -> None:
        """Remove one of the caller's devices."""
        tenant = principal.tenant
        async with self._database.unit_of_work(tenant) as uow:
            devices = DeviceRepository(uow.session, tenant)
            row = await devices.find(str(principal.user_id), device_id)
            if row is None:
                raise DeviceNotFoundError(
                    f"expected the id of one of your devices; received {device_id[:64]!r}"
                )
            await devices.delete(row)

    async def addresses(self, tenant_id: str, user_id: str) -> dict[str, builtins.list[str]]:
        """Return the user's enabled push addresses and verified phone numbers."""
        tenant = TenantContext(tenant_id=TenantId(tenant_id))
        found: dict[str, builtins.list[str]] = {}
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            for row in await DeviceRepository(uow.session, tenant).usable(user_id):
                found.setdefault(row.channel, []).append(row.address)
        return found

    async def disable(self, tenant_id: str, channel: str, address: str) -> bool:
        """Disable the device at ``address`` (the provider says it is gone); return whether
        one was enabled."""
        tenant = TenantContext(tenant_id=TenantId(tenant_id))
        async with self._database.unit_of_work(tenant) as uow:
            rows = await DeviceRepository(uow.session, tenant).enabled_at(channel, address)
            for row in rows:
                row.enabled = False
            return bool(rows)
