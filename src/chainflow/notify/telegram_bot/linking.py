"""Linking Telegram chats to users with one-time deep links, and the bindings' state.

``issue`` stores the SHA-256 of a fresh random code and returns
``https://t.me/<bot>?start=<code>``; the user opens it and Telegram sends the bot
``/start <code>``; ``redeem`` binds that chat to the code's user once, before the code
expires. ``addresses`` is the hub's view of a user's Telegram chat (none while muted or
disabled); ``disable_chat`` is what the delivery worker calls when a chat blocked the bot.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId
from chainflow.core.settings import NotifySettings
from chainflow.core.tenancy import TenantContext
from chainflow.notify.telegram_bot.errors import LinkCodeInvalidError
from chainflow.notify.telegram_bot.models import TelegramBinding
from chainflow.notify.telegram_bot.repository import (
    TelegramBindingRepository,
    TelegramChatDirectory,
    TelegramLinkCodeRepository,
)
from chainflow.storage.relational import Database

__all__ = ["ChatBinding", "LinkCode", "TelegramLinks", "hash_code"]


@dataclass(frozen=True, slots=True)
class LinkCode:
    code: str
    url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ChatBinding:
    """A linked chat as the bot sees it."""

    tenant_id: str
    user_id: str
    chat_id: str
    role: str
    enabled: bool
    muted_until: datetime | None

    def is_muted(self, now: datetime) -> bool:
        return self.muted_until is not None and self.muted_until > now


def hash_code(code: str) -> str:
    """Return the stored form of a link code."""
    return hashlib.sha256(code.encode()).hexdigest()


def _binding(row: TelegramBinding) -> ChatBinding:
    return ChatBinding(
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        chat_id=row.chat_id,
        role=row.role,
        enabled=row.enabled,
        muted_until=row.muted_until,
    )


class TelegramLinks:
    """Issues and redeems link codes; reads and changes chat bindings."""

    def __init__(self, *, database: Database, clock: Clock, settings: NotifySettings) -> None:
        self._database = database
        self._clock = clock
        self._bot = settings.telegram_bot_username.lstrip("@")
        self._ttl = timedelta(seconds=settings.telegram_link_ttl_s)

    async def issue(self, tenant: TenantContext, *, user_id: str, role: str) -> LinkCode:
        """Return a fresh one-time deep link for ``user_id``."""
        code = secrets.token_urlsafe(24)  # [A-Za-z0-9_-], as Telegram's start parameter
        expires_at = self._clock.now() + self._ttl
        async with self._database.unit_of_work(tenant) as uow:
            await TelegramLinkCodeRepository(uow.session, tenant).issue(
                code_hash=hash_code(code), user_id=user_id, role=role, expires_at=expires_at
            )
        return LinkCode(
            code=code, url=f"https://t.me/{self._bot}?start={code}", expires_at=expires_at
        )

    async def redeem(self, code: str, *, chat_id: str, username: str | None) -> ChatBinding:
        """Bind ``chat_id`` to the user of ``code``; raise ``LinkCodeInvalidError`` when the
        code is unknown, used or expired."""
        now = self._clock.now()
        async with self._database.unit_of_work(system=True) as uow:
            directory = TelegramChatDirectory(uow.session)
            found = await directory.code(hash_code(code))
            if found is None or found.used_at is not None or found.expires_at <= now:
                state = "unknown" if found is None else "used" if found.used_at else "expired"
                raise LinkCodeInvalidError(
                    f"expected an unused, unexpired link code; received one that is {state}"
                )
            found.used_at = now
            row = await directory.bind(found, chat_id=chat_id, username=username)
            return _binding(row)

    async def binding_for_chat(self, chat_id: str) -> ChatBinding | None:
        """Return the binding of ``chat_id``, if the chat is linked."""
        async with self._database.unit_of_work(system=True, read_only=True) as uow:
            row = await TelegramChatDirectory(uow.session).binding_for_chat(chat_id)
            return None if row is None else _binding(row)

    async def binding_for_user(self, tenant: TenantContext, user_id: str) -> ChatBinding | None:
        """Return the chat ``user_id`` linked, if any."""
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            row = await TelegramBindingRepository(uow.session, tenant).for_user(user_id)
            return None if row is None else _binding(row)

    async def addresses(self, tenant_id: str, user_id: str) -> dict[str, list[str]]:
        """Return ``{"telegram": [chat_id]}`` when the user's chat is enabled and not muted."""
        binding = await self.binding_for_user(TenantContext(tenant_id=TenantId(tenant_id)), user_id)
        if binding is None or not binding.enabled or binding.is_muted(self._clock.now()):
            return {}
        return {"telegram": [binding.chat_id]}

    async def disable_chat(self, chat_id: str, reason: str) -> bool:
        """Disable the chat's binding (the bot was blocked); return whether it was enabled."""
        async with self._database.unit_of_work(system=True) as uow:
            directory = TelegramChatDirectory(uow.session)
            return await directory.disable_chat(chat_id, reason=reason, at=self._clock.now())

    async def mute(self, chat_id: str, until: datetime | None) -> None:
        """Hold the chat's notifications until ``until`` (``None`` lifts the mute)."""
        async with self._database.unit_of_work(system=True) as uow:
            await TelegramChatDirectory(uow.session).set_muted_until(
                chat_id, until, at=self._clock.now()
            )
