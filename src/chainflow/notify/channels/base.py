"""The channel contract: one rendered message in, one delivery result out.

Every channel (e-mail, Telegram, SMS, push) implements :class:`Channel`; the delivery worker
only ever sees this interface, so a channel never touches the outbox and the worker never
speaks a provider's protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["CHANNELS", "SEVERITIES", "Channel", "DeliveryResult", "Message"]

CHANNELS: tuple[str, ...] = ("email", "telegram", "sms", "push")
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered notification for one recipient on one channel.

    ``idempotency_key`` is derived from (event id, user id, channel): nothing is sent twice.
    ``address`` is the e-mail address, Telegram chat id, phone number or push subscription id.
    ``html`` is the HTML body (e-mail) or Telegram HTML text; ``text`` is always set.
    """

    idempotency_key: str
    channel: str
    address: str
    subject: str
    text: str
    html: str | None
    severity: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What one send attempt achieved.

    ``retry_after_s`` is the provider's requested wait (HTTP 429 ``retry_after``);
    ``permanent`` means never retry (400 bad chat id, 403 blocked); ``disable_binding`` asks
    the hub to disable the recipient's binding (Telegram 403 "bot was blocked by the user").
    """

    ok: bool
    retry_after_s: float | None = None
    permanent: bool = False
    disable_binding: bool = False
    provider_id: str | None = None
    error: str | None = None


@runtime_checkable
class Channel(Protocol):
    """A delivery channel: sends one message, reports the outcome, never raises for a
    provider's refusal (it returns a failed :class:`DeliveryResult` instead)."""

    name: str

    async def send(self, message: Message) -> DeliveryResult:
        """Send ``message`` once and report the outcome."""
        ...

    async def close(self) -> None:
        """Release connections and background resources."""
        ...
