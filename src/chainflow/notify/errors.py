"""The notification hub's errors, each with its wire code and HTTP status."""

from __future__ import annotations

from chainflow.core.errors import Conflict, InvalidInput, NotFound


class UnknownTemplateError(InvalidInput):
    """No template exists for the notification kind asked for."""

    code = "notification_template_not_found"


class TemplateRenderError(InvalidInput):
    """A template failed to render with the data given."""

    code = "notification_template_invalid"


class NotificationNotFoundError(NotFound):
    code = "notification_not_found"


class NotificationNotRetryableError(Conflict):
    """Only a ``failed`` or ``dead`` notification can be retried."""

    code = "notification_not_retryable"


class ChannelUnavailableError(InvalidInput):
    """The channel is not configured here, or the user has no address on it."""

    code = "notification_channel_unavailable"
