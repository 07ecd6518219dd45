"""The report errors, each with its wire code and HTTP status."""

from __future__ import annotations

from chainflow.core.errors import DependencyUnavailable, InvalidInput


class ReportReferenceInvalidError(InvalidInput):
    """An attachment reference that does not name a report."""

    code = "analytics_report_reference_invalid"


class ReportRecipientUnknownError(InvalidInput):
    """A report asked for a user who is not an active member of the tenant."""

    code = "analytics_report_recipient_unknown"


class ReportDeliveryUnavailableError(DependencyUnavailable):
    """No e-mail delivery in this deployment (no notification hub or no SMTP server)."""

    code = "analytics_report_delivery_unavailable"
