"""Errors of the users service, each with its wire code and HTTP status (STYLE.md section 7).

Messages name what was expected and what was received; they never contain a password, a
token or a key.
"""

from __future__ import annotations

from chainflow.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
)

# --- input ---------------------------------------------------------------------------------


class InvalidEmailError(InvalidInput):
    code = "invalid_email"


class WeakPasswordError(InvalidInput):
    """The password breaks the policy; ``details`` lists each rule it broke."""

    code = "weak_password"


class InvalidLocaleError(InvalidInput):
    code = "invalid_locale"


class InvalidTimezoneError(InvalidInput):
    code = "invalid_timezone"


class InvalidNameError(InvalidInput):
    code = "invalid_name"


class InvalidRoleError(InvalidInput):
    code = "invalid_role"


class InvalidTierError(InvalidInput):
    code = "invalid_tier"


class InvalidScopeError(InvalidInput):
    code = "invalid_scope"


class InvalidTradingSettingsError(InvalidInput):
    """One or more trading settings are out of range; ``details`` lists each field."""

    code = "invalid_trading_settings"


class InvalidLimitOverridesError(InvalidInput):
    code = "invalid_limit_overrides"


# --- one-time tokens and invitations -----------------------------------------------------


class OneTimeTokenInvalidError(InvalidInput):
    code = "one_time_token_invalid"


class OneTimeTokenExpiredError(InvalidInput):
    code = "one_time_token_expired"


class OneTimeTokenUsedError(InvalidInput):
    code = "one_time_token_used"


class InvitationInvalidError(InvalidInput):
    code = "invitation_invalid"


class InvitationExpiredError(InvalidInput):
    code = "invitation_expired"


class InvitationUsedError(InvalidInput):
    code = "invitation_used"


# --- authentication ------------------------------------------------------------------------


class InvalidRefreshTokenError(Unauthenticated):
    code = "invalid_refresh_token"


class RefreshTokenExpiredError(Unauthenticated):
    code = "refresh_token_expired"


class RefreshTokenReusedError(Unauthenticated):
    """An already rotated refresh token came back: the whole session was revoked."""

    code = "refresh_token_reused"


class SessionRevokedError(Unauthenticated):
    code = "session_revoked"


class EmailNotVerifiedError(Forbidden):
    code = "email_not_verified"


class AccountDisabledError(Forbidden):
    code = "account_disabled"


class TooManyAttemptsError(RateLimited):
    """Too many failed attempts for an address or from a client: locked for a while.

    ``retry_after_s`` becomes the ``Retry-After`` header.
    """

    code = "too_many_attempts"


class SessionRequiredError(Forbidden):
    """The action needs a signed-in user (a JWT), not an API key."""

    code = "session_required"


# --- authorisation -------------------------------------------------------------------------


class RoleChangeForbiddenError(Forbidden):
    code = "role_change_not_allowed"


class ScopeNotAllowedError(Forbidden):
    code = "scope_not_allowed"


# --- state ---------------------------------------------------------------------------------


class EmailAlreadyRegisteredError(Conflict):
    code = "email_already_registered"


class EmailAlreadyVerifiedError(Conflict):
    code = "email_already_verified"


class AlreadyMemberError(Conflict):
    code = "already_member"


class LastOwnerError(Conflict):
    code = "last_owner"


class ConcurrentUpdateError(Conflict):
    code = "concurrent_update"
    retryable = True


# --- not found (another tenant's resource is reported the same way) ------------------------


class UserNotFoundError(NotFound):
    code = "user_not_found"


class MemberNotFoundError(NotFound):
    code = "member_not_found"


class TenantNotFoundError(NotFound):
    code = "tenant_not_found"


class SessionNotFoundError(NotFound):
    code = "session_not_found"


class ApiKeyNotFoundError(NotFound):
    code = "api_key_not_found"


class InvitationNotFoundError(NotFound):
    code = "invitation_not_found"
