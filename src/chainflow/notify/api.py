"""Public interface of the notification hub: what other services and the runtime import."""

from __future__ import annotations

from chainflow.notify.channels.base import CHANNELS, Channel, DeliveryResult, Message
from chainflow.notify.directory import AddressBook, NoAddresses, Recipient, RecipientDirectory
from chainflow.notify.events import PARSERS, EventSource, NotifyEvent

__all__ = [
    "CHANNELS",
    "PARSERS",
    "AddressBook",
    "Channel",
    "DeliveryResult",
    "EventSource",
    "Message",
    "NoAddresses",
    "NotifyEvent",
    "Recipient",
    "RecipientDirectory",
]
