"""All queries of the Telegram bot's tables.

Tenant-scoped repositories serve the API (a user links their chat, mutes it); the
``TelegramChatDirectory`` runs in a ``system=True`` unit of work because an update from
Telegram names a chat or a link code, not a tenant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chainflow.notify.telegram_bot.models import TelegramBinding, TelegramLinkCode
from chainflow.storage.relational import TenantRepository
from chainflow.storage.relational.unit_of_work import SYSTEM_INFO_KEY

__all__ = ["TelegramBindingRepository", "TelegramChatDirectory", "TelegramLinkCodeRepository"]


class TelegramBindingRepository(TenantRepository[TelegramBinding]):
    async def for_user(self, user_id: str) -> TelegramBinding | None:
        """Return the user's binding, if they linked a chat."""
        statement = self._select().where(TelegramBinding.user_id == user_id)
        return (await self.session.execute(statement)).scalar_one_or_none()


class TelegramLinkCodeRepository(TenantRepository[TelegramLinkCode]):
    async def issue(
        self, *, code_hash: str, user_id: str, role: str, expires_at: datetime
    ) -> TelegramLinkCode:
        """Store a new one-time code of ``user_id``."""
        row = TelegramLinkCode(
            code_hash=code_hash, user_id=user_id, role=role, expires_at=expires_at
        )
        return await self.add(row)


class TelegramChatDirectory:
    """Cross-tenant look-ups by chat id or link code (a ``system=True`` unit of work only)."""

    def __init__(self, session: AsyncSession) -> None:
        if not session.info.get(SYSTEM_INFO_KEY):
            raise ValueError(
                "TelegramChatDirectory needs a unit of work opened with system=True; "
                "it received a tenant-scoped one"
            )
        self.session = session

    async def binding_for_chat(self, chat_id: str) -> TelegramBinding | None:
        """Return the binding of ``chat_id`` in any tenant."""
        statement = select(TelegramBinding).where(TelegramBinding.chat_id == chat_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def code(self, code_hash: str) -> TelegramLinkCode | None:
        """Return the link code with this hash in any tenant."""
        statement = select(TelegramLinkCode).where(TelegramLinkCode.code_hash == code_hash)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def bind(
        self, code: TelegramLinkCode, *, chat_id: str, username: str | None
    ) -> TelegramBinding:
        """Bind ``chat_id`` to the code's user, replacing the chat's and the user's old binding."""
        await self.session.execute(
            delete(TelegramBinding).where(
                (TelegramBinding.chat_id == chat_id)
                | (
                    (TelegramBinding.tenant_id == code.tenant_id)
                    & (TelegramBinding.user_id == code.user_id)
                )
            )
        )
        row = TelegramBinding(
            tenant_id=code.tenant_id,
            user_id=code.user_id,
            chat_id=chat_id,
            username=username,
            role=code.role,
            enabled=True,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def disable_chat(self, chat_id: str, *, reason: str, at: datetime) -> bool:
        """Disable the binding of ``chat_id``; return whether one was enabled."""
        statement = (
            update(TelegramBinding)
            .where(TelegramBinding.chat_id == chat_id, TelegramBinding.enabled.is_(True))
            .values(enabled=False, disabled_reason=reason[:200], updated_at=at)
        )
        result = cast("CursorResult[Any]", await self.session.execute(statement))
        return result.rowcount > 0

    async def set_muted_until(self, chat_id: str, until: datetime | None, *, at: datetime) -> None:
        """Mute the chat's binding until ``until`` (``None`` unmutes)."""
        statement = (
            update(TelegramBinding)
            .where(TelegramBinding.chat_id == chat_id)
            .values(muted_until=until, updated_at=at)
        )
        await self.session.execute(statement)
