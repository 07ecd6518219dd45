"""Event bus backends: in-process by default, NATS JetStream at scale.

``open_bus`` picks the backend from the URL scheme. This module also holds what both
backends share, so that they route, refuse and log the same way: the NATS subject grammar
(``*`` matches one token, ``>`` the rest), the checks of subjects, durable names and
redelivery delays, and the payload-free description of a handler failure.
"""

from __future__ import annotations

import math
import re
import traceback
from typing import Any
from urllib.parse import urlsplit

from chainflow.core.errors import ConfigurationError, InvalidInput
from chainflow.core.logging import redact_url
from chainflow.core.optional import load_backend
from chainflow.core.settings import BusSettings
from chainflow.hub.api import EventBus

MEMORY_SCHEMES = ("memory",)
NATS_SCHEMES = ("nats", "tls")
ACCEPTED_SCHEMES = MEMORY_SCHEMES + NATS_SCHEMES

SINGLE_TOKEN_WILDCARD = "*"
TAIL_WILDCARD = ">"
_FORBIDDEN_IN_TOKEN = re.compile(r"[\s\x00]")
_DURABLE_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def open_bus(settings: BusSettings) -> EventBus:
    """Build the bus named by ``settings.url``; it connects in ``start()``."""
    scheme = urlsplit(settings.url.split(",", 1)[0].strip()).scheme.lower()
    if scheme in MEMORY_SCHEMES:
        from chainflow.hub.bus.memory import InProcessBus

        return InProcessBus(
            ack_wait_s=settings.ack_wait_s,
            max_deliver=settings.max_deliver,
            request_timeout_s=settings.request_timeout_s,
            partitions=settings.partitions,
        )
    if scheme in NATS_SCHEMES:
        backend_class = load_backend(
            "chainflow.hub.bus.nats_bus",
            "NatsJetStreamBus",
            library="nats",
            extra="nats",
            purpose=f"bus URL {redact_url_list(settings.url)!r}",
        )
        return backend_class(settings)
    accepted = ", ".join(f"{s}://" for s in ACCEPTED_SCHEMES)
    raise ConfigurationError(
        f"bus URL must start with one of {accepted}; received {redact_url_list(settings.url)!r}"
    )


def redact_url_list(urls: str) -> str:
    """Return a comma-separated server list with every password replaced by ``***``."""
    return ",".join(redact_url(url.strip()) for url in urls.split(","))


# --- subjects ------------------------------------------------------------------------------


def subject_matches(pattern: str, subject: str) -> bool:
    """Return whether ``subject`` matches ``pattern`` (``*`` one token, ``>`` one or more)."""
    pattern_tokens = pattern.split(".")
    subject_tokens = subject.split(".")
    for index, token in enumerate(pattern_tokens):
        if token == TAIL_WILDCARD:
            return len(subject_tokens) > index
        if index >= len(subject_tokens):
            return False
        if token != SINGLE_TOKEN_WILDCARD and token != subject_tokens[index]:
            return False
    return len(pattern_tokens) == len(subject_tokens)


def validate_subject(subject: str) -> None:
    """Raise ``InvalidInput`` unless ``subject`` is a concrete subject to publish or request."""
    if not _has_valid_tokens(subject) or any(
        token in (SINGLE_TOKEN_WILDCARD, TAIL_WILDCARD) for token in subject.split(".")
    ):
        raise InvalidInput(
            "bus subject must be dot-separated non-empty tokens without spaces or wildcards "
            f"(build it with core.messages.topic); received {subject!r}"
        )


def validate_subject_pattern(pattern: str) -> None:
    """Raise ``InvalidInput`` unless ``pattern`` is a subject with well-placed wildcards."""
    tokens = pattern.split(".")
    misplaced_tail = TAIL_WILDCARD in tokens[:-1]
    if not _has_valid_tokens(pattern) or misplaced_tail:
        raise InvalidInput(
            "bus subject pattern must be dot-separated non-empty tokens without spaces, "
            f"with '*' as a whole token and '>' only as the last token; received {pattern!r}"
        )


def _has_valid_tokens(subject: object) -> bool:
    if not isinstance(subject, str) or not subject:
        return False
    for token in subject.split("."):
        if not token or _FORBIDDEN_IN_TOKEN.search(token):
            return False
        is_wildcard = token in (SINGLE_TOKEN_WILDCARD, TAIL_WILDCARD)
        if not is_wildcard and (SINGLE_TOKEN_WILDCARD in token or TAIL_WILDCARD in token):
            return False
    return True


def validate_durable_name(durable: str) -> None:
    """Raise ``InvalidInput`` unless ``durable`` is 1-64 letters, digits, ``_`` or ``-``."""
    if not isinstance(durable, str) or not _DURABLE_NAME.fullmatch(durable):
        raise InvalidInput(
            "durable consumer name must be 1-64 letters, digits, '_' or '-' "
            f"(for example 'notify-deliver_outbox'); received {durable!r}"
        )


def validate_redelivery_delay_s(delay_s: float | None) -> None:
    """Raise ``InvalidInput`` unless ``delay_s`` is None or a finite number of seconds >= 0."""
    if delay_s is not None and not (delay_s >= 0 and math.isfinite(delay_s)):
        raise InvalidInput(
            f"nak delay_s must be None or a finite number of seconds >= 0; received {delay_s!r}"
        )


def validate_timeout_s(timeout_s: float) -> None:
    """Raise ``InvalidInput`` unless ``timeout_s`` is a positive finite number of seconds."""
    if not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise InvalidInput(
            f"request timeout_s must be a positive number of seconds; received {timeout_s!r}"
        )


def describe_failure(error: BaseException) -> dict[str, Any]:
    """Return log fields naming ``error`` and where it was raised, without its message.

    Handler errors often quote the payload (validation errors print the input), and
    payloads never go to the log; the type and the stack are enough to find the bug.
    """
    stack = traceback.extract_tb(error.__traceback__)
    return {
        "error_type": f"{type(error).__module__}.{type(error).__qualname__}",
        "error_stack": [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in stack],
    }
