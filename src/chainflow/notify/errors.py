"""The notification hub's errors, each with its wire code and HTTP status."""

from __future__ import annotations

from chainflow.core.errors import (
    ConfigurationError,
    Conflict,
    DependencyUnavailable,
    InvalidInput,
    NotFound,
    TierLimitExceeded,
)


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


class ChannelNotInTierError(TierLimitExceeded):
    """The tenant's tier does not include a channel the request enables."""

    code = "notification_channel_not_in_tier"


class TemplateOverrideNotFoundError(NotFound):
    code = "notification_template_override_not_found"


class DeviceNotFoundError(NotFound):
    code = "notification_device_not_found"


class DeviceInvalidError(InvalidInput):
    """A push subscription, FCM token or phone number that is not well formed."""

    code = "notification_device_invalid"


class PhoneCodeInvalidError(InvalidInput):
    """The one-time code of a phone number is wrong, used up or expired."""

    code = "notification_phone_code_invalid"


class NotificationAccountNotFoundError(NotFound):
    """The operator named an e-mail address no account has (``chainflow notify``)."""

    code = "notification_account_not_found"


class PreferenceChangeInvalidError(InvalidInput):
    """A preference change names an unknown event, channel, time or time zone."""

    code = "notification_preference_invalid"


class ChannelNotConfiguredError(ConfigurationError):
    """A channel built without the setting it cannot send without (a sender, a bot token)."""

    code = "notification_channel_not_configured"


class TelegramApiUnavailableError(DependencyUnavailable):
    """The Telegram Bot API did not answer, or answered with a server error."""

    code = "telegram_unavailable"
