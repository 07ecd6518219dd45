"""Public interface of the notification hub: what other services and the runtime import."""

from __future__ import annotations

from chainflow.notify.channels.base import CHANNELS, Channel, DeliveryResult, Message
from chainflow.notify.direct import DirectMessage
from chainflow.notify.directory import AddressBook, NoAddresses, Recipient, RecipientDirectory
from chainflow.notify.events import PARSERS, SECURITY_KINDS, EventSource, NotifyEvent
from chainflow.notify.operator import PreferenceChange

__all__ = [
    "CHANNELS",
    "PARSERS",
    "SECURITY_KINDS",
    "AddressBook",
    "Channel",
    "DeliveryResult",
    "DirectMessage",
    "EventSource",
    "Message",
    "NoAddresses",
    "NotifyEvent",
    "PreferenceChange",
    "Recipient",
    "RecipientDirectory",
]
