"""Rules for who a user is: e-mail address, display name, locale and time zone."""

from __future__ import annotations

from typing import Literal, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from chainflow.users.errors import (
    InvalidEmailError,
    InvalidLocaleError,
    InvalidNameError,
    InvalidTimezoneError,
)
from chainflow.users.models import EMAIL_LENGTH, NAME_LENGTH

Locale = Literal["en", "id"]
SUPPORTED_LOCALES: tuple[str, ...] = get_args(Locale)
DEFAULT_LOCALE: Locale = "en"
DEFAULT_TIMEZONE = "UTC"


def normalize_email(raw: str) -> str:
    """Return ``raw`` validated (syntax only, no DNS) and lower-cased; raise
    ``InvalidEmailError`` naming what is wrong."""
    candidate = raw.strip()
    if len(candidate) > EMAIL_LENGTH:
        raise InvalidEmailError(
            f"an e-mail address must be at most {EMAIL_LENGTH} characters long; "
            f"received {len(candidate)} characters"
        )
    try:
        validated = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as e:
        raise InvalidEmailError(
            f"expected a valid e-mail address such as name@example.com; {e}"
        ) from e
    return validated.normalized.lower()


def validate_locale(raw: str) -> Locale:
    """Return ``raw`` as a supported locale; raise ``InvalidLocaleError`` otherwise."""
    if raw not in SUPPORTED_LOCALES:
        raise InvalidLocaleError(
            f"locale must be one of {', '.join(SUPPORTED_LOCALES)}; received {raw!r}"
        )
    return cast(Locale, raw)


def validate_timezone(raw: str) -> str:
    """Return ``raw`` when it names an IANA time zone; raise ``InvalidTimezoneError`` otherwise."""
    name = raw.strip()
    try:
        if not name or len(name) > 64:
            raise ValueError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise InvalidTimezoneError(
            f"timezone must be an IANA time zone name such as 'Asia/Jakarta' or 'UTC'; "
            f"received {raw[:80]!r}"
        ) from e
    return name


def validate_name(raw: str | None) -> str:
    """Return the display name stripped; raise ``InvalidNameError`` when too long."""
    name = (raw or "").strip()
    if len(name) > NAME_LENGTH:
        raise InvalidNameError(
            f"name must be at most {NAME_LENGTH} characters long; received {len(name)} characters"
        )
    if any(not character.isprintable() for character in name):
        raise InvalidNameError("name must contain printable characters only; it contained others")
    return name
