"""Errors of billing, each with its wire code and HTTP status (STYLE.md section 7).

Messages name what was expected and what was received; they never contain the server key,
a signature or a Snap token.
"""

from __future__ import annotations

from chainflow.core.errors import (
    ChainflowError,
    Conflict,
    DependencyUnavailable,
    Forbidden,
    InvalidInput,
    NotFound,
    ProtocolError,
)


class InvalidPlanError(InvalidInput):
    code = "invalid_plan"


class InvalidPeriodError(InvalidInput):
    code = "invalid_period"


class PlanNotPurchasableError(InvalidInput):
    """The free plan needs no payment: cancel the subscription to return to it."""

    code = "plan_not_purchasable"


class InvalidCouponError(InvalidInput):
    """The coupon is unknown, expired, used up, not for this plan, or covers the price."""

    code = "invalid_coupon"


class InvalidCouponTermsError(InvalidInput):
    code = "invalid_coupon_terms"


class CouponExistsError(Conflict):
    code = "coupon_exists"


class BillingNotConfiguredError(DependencyUnavailable):
    """No Midtrans server key is set (``CHAINFLOW_BILLING_SERVER_KEY``)."""

    code = "billing_not_configured"
    retryable = False


class PaymentGatewayError(ChainflowError):
    """Midtrans refused the call, failed or did not answer in time."""

    code = "payment_gateway_error"
    status = 502
    retryable = True


class InvalidNotificationError(ProtocolError):
    code = "invalid_notification"


class InvalidSignatureError(Forbidden):
    """A notification's ``signature_key`` does not match; it is not from Midtrans."""

    code = "invalid_signature"


class PaymentMismatchError(Conflict):
    """Midtrans confirmed an amount or order other than the one stored."""

    code = "payment_mismatch"


class OrderNotFoundError(NotFound):
    code = "order_not_found"


class InvoiceNotFoundError(NotFound):
    code = "invoice_not_found"


class SubscriptionNotFoundError(NotFound):
    code = "subscription_not_found"


class DowngradeAtPeriodEndError(Conflict):
    """A lower plan is not bought at checkout: it is scheduled for the period end."""

    code = "downgrade_at_period_end"


class NotADowngradeError(InvalidInput):
    code = "not_a_downgrade"


class TrialUnavailableError(Conflict):
    """The plan has no trial, the tenant used its trial, or it is on a plan already."""

    code = "trial_unavailable"


class RefundRefusedError(Conflict):
    """The order cannot be refunded: not paid, or the amount is above what is left."""

    code = "refund_refused"


class GrantNotFoundError(NotFound):
    code = "grant_not_found"


class UsageUnavailableError(DependencyUnavailable):
    code = "usage_unavailable"
    retryable = False


class PlanPriceOverrideNotFoundError(NotFound):
    """The plan and period have no database price: they cost what the plan table says."""

    code = "plan_price_override_not_found"


class NoSavedCardError(Conflict):
    """Auto-renewal charges a card Midtrans saved at a card payment; the tenant has none."""

    code = "no_saved_card"
