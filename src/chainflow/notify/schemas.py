"""Bodies of ``/api/v1/notifications``."""

from __future__ import annotations

import ipaddress
import json
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chainflow.notify.preferences import Preferences

__all__ = [
    "ChannelName",
    "DeviceCreate",
    "DevicePage",
    "DeviceRead",
    "DeviceVerify",
    "NotificationPage",
    "NotificationRead",
    "Preferences",
    "PreviewCreate",
    "PreviewRead",
    "TestSendCreate",
    "TemplateOverridePage",
    "TemplateOverridePut",
    "TemplateOverrideRead",
    "TestSendRead",
    "WebPushSubscription",
]

ChannelName = Literal["email", "telegram", "sms", "push"]


class NotificationRead(BaseModel):
    """One message of the delivery log (its body is not repeated here)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    event_type: str
    channel: str
    address: str
    severity: str
    subject: str
    state: Literal["pending", "sending", "sent", "failed", "dead"]
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    created_at: datetime


class NotificationPage(BaseModel):
    items: list[NotificationRead]


class PreviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=64, description="event kind, e.g. circuit_breaker")
    channel: ChannelName = "email"
    locale: str = Field(default="en", max_length=16)
    data: dict[str, Any] | None = Field(
        default=None, description="template data; the kind's sample data when omitted"
    )


class PreviewRead(BaseModel):
    subject: str
    text: str
    html: str | None


class TestSendCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: ChannelName = "email"


class TestSendRead(BaseModel):
    queued: int = Field(description="messages queued (one per address on the channel)")


class TemplateOverridePut(BaseModel):
    """A tenant's subject and text of one kind on one channel in one locale (Jinja2)."""

    model_config = ConfigDict(extra="forbid")

    channel: ChannelName
    locale: Literal["en", "id"] = "en"
    subject: str = Field(min_length=1, max_length=300, description="Jinja2, one line")
    text: str = Field(min_length=1, max_length=8000, description="Jinja2 plain text")


class TemplateOverrideRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    channel: str
    locale: str
    subject: str
    text: str = Field(validation_alias="body")
    updated_by: str
    updated_at: datetime


class TemplateOverridePage(BaseModel):
    items: list[TemplateOverrideRead]


def _internal_host(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


class WebPushKeys(BaseModel):
    model_config = ConfigDict(extra="ignore")

    p256dh: str = Field(min_length=16, max_length=200, pattern=r"^[A-Za-z0-9_=-]+$")
    auth: str = Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_=-]+$")


class WebPushSubscription(BaseModel):
    """A browser's ``PushSubscription.toJSON()``."""

    model_config = ConfigDict(extra="ignore")

    endpoint: str = Field(max_length=2000)
    keys: WebPushKeys

    @model_validator(mode="after")
    def _https_endpoint(self) -> WebPushSubscription:
        parts = urlsplit(self.endpoint)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"expected an https:// push endpoint; received {self.endpoint[:80]!r}")
        if _internal_host(parts.hostname):  # the server posts there: no internal targets
            raise ValueError(
                f"expected a public push service host; received {parts.hostname[:80]!r}"
            )
        return self

    def address(self) -> str:
        """Return the subscription as the push channel's address (compact JSON)."""
        keys = {"p256dh": self.keys.p256dh, "auth": self.keys.auth}
        return json.dumps({"endpoint": self.endpoint, "keys": keys}, separators=(",", ":"))


class DeviceCreate(BaseModel):
    """A push subscription (``webpush``), an FCM registration token (``fcm``) or a phone
    number in E.164 form (``sms``; a code is sent to it to confirm it)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["webpush", "fcm", "sms"]
    subscription: WebPushSubscription | None = None
    token: str | None = Field(default=None, max_length=4096, pattern=r"^[A-Za-z0-9:_-]+$")
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")
    label: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _one_address(self) -> DeviceCreate:
        field = {"webpush": "subscription", "fcm": "token", "sms": "phone"}[self.kind]
        given = [
            name for name in ("subscription", "token", "phone") if getattr(self, name) is not None
        ]
        if given != [field]:
            raise ValueError(f"expected only {field!r} for kind {self.kind!r}; received {given}")
        return self


class DeviceVerify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=4, max_length=12)


class DeviceRead(BaseModel):
    id: str
    channel: str
    kind: str
    label: str | None
    address_hint: str = Field(description="enough of the address to recognise it")
    enabled: bool
    verified: bool = Field(description="a phone: its code was confirmed; push: always true")
    created_at: datetime


class DevicePage(BaseModel):
    items: list[DeviceRead]
