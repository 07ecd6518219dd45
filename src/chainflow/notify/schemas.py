"""Bodies of ``/api/v1/notifications``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chainflow.notify.preferences import Preferences

__all__ = [
    "NotificationPage",
    "NotificationRead",
    "Preferences",
    "PreviewCreate",
    "PreviewRead",
    "TestSendCreate",
    "TestSendRead",
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
