"""What reports need from outside analytics, implemented by the runtime over the
notification hub and the users service (analytics imports neither)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ReportRecipient:
    """An active user a report goes to."""

    user_id: str
    email: str
    timezone: str  # IANA name; unknown or empty reads as UTC
    tenant_name: str


@dataclass(frozen=True, slots=True)
class ReportMessage:
    """One rendered report e-mail, named by ``key`` (the same key is queued once)."""

    key: str
    tenant_id: str
    user_id: str
    address: str
    subject: str
    text: str
    html: str
    from_name: str
    attachments: str  # ``<kind>:<reference>``, rendered when the e-mail is sent
    meta: dict[str, str] = field(default_factory=dict)


class ReportRecipients(Protocol):
    async def recipient(self, tenant_id: str, user_id: str) -> ReportRecipient | None:
        """Return the active user ``user_id`` of ``tenant_id``, or None."""
        ...


class ReportOutbox(Protocol):
    @property
    def available(self) -> bool:
        """Whether e-mail can be queued in this process."""
        ...

    async def queue(self, message: ReportMessage) -> bool:
        """Queue ``message`` unless its key was queued before; return whether it was new."""
        ...
