"""Events billing publishes and their topic builders (``users.billing.*``, ``users.security.*``).

They go out through ``users.events``' after-commit publisher, so a rolled-back change
publishes nothing. None carries the server key, a signature or a Snap token.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainflow.core.messages import Event, topic


@dataclass(frozen=True, slots=True)
class OrderStatusChanged(Event):
    """An order moved up its state chain (``order_state``) after a confirmed status."""

    tenant_id: str
    order_id: str
    plan: str
    period: str
    previous_status: str
    status: str
    gross_amount_idr: int
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class SubscriptionChanged(Event):
    """A tenant's subscription changed status, plan or period end."""

    tenant_id: str
    plan: str
    period: str
    previous_status: str | None
    status: str
    current_period_end_ms: int
    reason: str
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class InvoiceIssued(Event):
    tenant_id: str
    invoice_id: str
    invoice_number: str
    order_id: str
    total_idr: int
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class PaymentNotificationRejected(Event):
    """A security event: a payment notification failed verification and changed nothing.

    ``reason`` is ``invalid_signature`` (not signed with our server key) or
    ``payment_mismatch`` (Midtrans confirmed another amount than the order's).
    """

    order_id: str
    reason: str
    status_code: str
    gross_amount: str
    ip: str | None
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class RenewalDue(Event):
    """A renewal order awaits payment before the period ends (``renewal_lead_days``).

    ``redirect_url`` is the order's Snap payment page, for the reminder's pay button.
    """

    tenant_id: str
    order_id: str
    plan: str
    period: str
    gross_amount_idr: int
    redirect_url: str
    current_period_end_ms: int
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class PaymentFailed(Event):
    """An order was denied, expired unpaid, or could not reach Midtrans (``failed``)."""

    tenant_id: str
    order_id: str
    plan: str
    period: str
    kind: str
    status: str
    gross_amount_idr: int
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class SubscriptionExpiring(Event):
    """The subscription will end at ``expires_at_ms`` unless paid: it went past due (the
    grace period's end), or it is canceled or downgraded to free and its period ends soon."""

    tenant_id: str
    plan: str
    status: str
    expires_at_ms: int
    ts_event_ms: int


@dataclass(frozen=True, slots=True)
class TierGranted(Event):
    """A superadmin granted (``tier`` set) or revoked (``tier`` None) a manual tier."""

    tenant_id: str
    tier: str | None
    until_ms: int | None
    granted_by: str
    ts_event_ms: int


def order_status_changed_topic() -> str:
    return topic("users", "billing", "order_status_changed")


def subscription_changed_topic() -> str:
    return topic("users", "billing", "subscription_changed")


def invoice_issued_topic() -> str:
    return topic("users", "billing", "invoice_issued")


def payment_notification_rejected_topic() -> str:
    return topic("users", "security", "payment_notification_rejected")


def renewal_due_topic() -> str:
    return topic("users", "billing", "renewal_due")


def payment_failed_topic() -> str:
    return topic("users", "billing", "payment_failed")


def subscription_expiring_topic() -> str:
    return topic("users", "billing", "subscription_expiring")


def tier_granted_topic() -> str:
    return topic("users", "billing", "tier_granted")
