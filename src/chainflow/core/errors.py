"""One error hierarchy, classified by what the caller must do (STYLE.md section 7).

Every error carries its wire ``code`` (DESIGN.md section 4), its HTTP ``status`` and whether
the caller may retry. The gateway renders any ``ChainflowError`` as
``{"error": {"code", "message", "details"}}``; the WebSocket layer renders the same code and
message as an ``error`` frame.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ChainflowError(Exception):
    """Root of every error ChainFlow raises on purpose."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_payload(self) -> dict[str, Any]:
        """Return the DESIGN.md section 4 error body."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(ChainflowError):
    code = "invalid_input"
    status = 422


class ProtocolError(InvalidInput):
    code = "protocol_error"
    status = 400


class MalformedEventError(ProtocolError, ValueError):
    """A bus message that does not decode as the event its subject names.

    Consumers drop it (``term``) and log it: redelivery would not change it. It is also a
    ``ValueError``, as the events' ``from_json`` document, so a consumer's
    ``except ValueError`` keeps catching it.
    """

    code = "event_malformed"


class InvalidBarsError(InvalidInput, ValueError):
    """Bar columns that do not form one series (``core.bar_series.BarSeries``): not 1-D,
    unequal lengths, a ``ts`` not strictly increasing, a frame without the bar columns.

    Defined here, once, because the series is built by the backtest, ml and features
    services alike; also a ``ValueError``, which their bar inputs documented before.
    """

    code = "invalid_bars"


class NotFound(ChainflowError):
    code = "not_found"
    status = 404


class Conflict(ChainflowError):
    code = "conflict"
    status = 409


class Unauthenticated(ChainflowError):
    code = "unauthenticated"
    status = 401


class InvalidCredentialsError(Unauthenticated):
    """A password, token or API key that does not sign anyone in.

    Defined here, once, because the users service (sign-in) and the gateway (every request)
    both raise it with the same wire code.
    """

    code = "invalid_credentials"


class Forbidden(ChainflowError):
    code = "forbidden"
    status = 403


class PermissionDeniedError(Forbidden):
    """The caller's role does not allow the action (the gateway's role guard, and services
    that check a role themselves, e.g. changing a platform model)."""

    code = "permission_denied"


class RateLimited(ChainflowError):
    code = "rate_limited"
    status = 429
    retryable = True

    def __init__(self, message: str, *, retry_after_s: float, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = retry_after_s


class TierLimitExceeded(ChainflowError):
    code = "tier_limit_exceeded"
    status = 403


class FeatureNotInTierError(TierLimitExceeded):
    """The tenant's tier does not include the feature asked for (upgrade).

    Defined here, once: the gateway's feature guard and the services that check a feature
    themselves (team invitations, optimisation jobs) answer with the same wire code.
    """

    code = "feature_not_in_tier"


class DependencyUnavailable(ChainflowError):
    code = "dependency_unavailable"
    status = 503
    retryable = True


class ConfigurationError(ChainflowError):
    """Fatal at start-up; the CLI prints it without a traceback."""

    code = "configuration_error"
    status = 500


class PluginError(ChainflowError):
    """User strategy or model code failed; the caller falls back to ``hold``."""

    code = "plugin_error"
    status = 500
