"""Who can be notified: the users of a tenant and their addresses on each channel.

The hub reads users through ``RecipientDirectory`` (the runtime implements it over the
users service's tables) and the non-e-mail addresses through ``AddressBook`` (the
Telegram, SMS and push bindings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["AddressBook", "AddressBooks", "NoAddresses", "Recipient", "RecipientDirectory"]


@dataclass(frozen=True, slots=True)
class Recipient:
    """One active user who may be notified."""

    user_id: str
    tenant_id: str
    email: str
    locale: str
    timezone: str
    role: str
    tenant_name: str


class RecipientDirectory(Protocol):
    async def user(self, tenant_id: str, user_id: str) -> Recipient | None:
        """Return the active user ``user_id`` of ``tenant_id``, or None."""
        ...

    async def members(self, tenant_id: str) -> Sequence[Recipient]:
        """Return the tenant's active users."""
        ...

    async def tenant_name(self, tenant_id: str) -> str:
        """Return the tenant's display name ('' when unknown)."""
        ...


class AddressBook(Protocol):
    async def addresses(self, tenant_id: str, user_id: str) -> Mapping[str, Sequence[str]]:
        """Return the user's enabled addresses per non-e-mail channel."""
        ...


class NoAddresses:
    """An address book without bindings (no Telegram, SMS or push configured)."""

    async def addresses(self, tenant_id: str, user_id: str) -> Mapping[str, Sequence[str]]:
        return {}


class AddressBooks:
    """Several address books read as one (Telegram chats, push devices and phones)."""

    def __init__(self, *books: AddressBook) -> None:
        self._books = books

    async def addresses(self, tenant_id: str, user_id: str) -> Mapping[str, Sequence[str]]:
        merged: dict[str, list[str]] = {}
        for book in self._books:
            for channel, found in (await book.addresses(tenant_id, user_id)).items():
                merged.setdefault(channel, []).extend(found)
        return merged
