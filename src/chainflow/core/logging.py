"""Structured logging with structlog: JSON lines, context binding, secrets never logged."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog

SECRET_KEY_PATTERN = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|authorization|cookie|server[_-]?key|dsn)",
    re.IGNORECASE,
)
REDACTED = "***"
# Credentials passed in query strings (``?api_key=`` for MT5 terminals, ``?access_token=``).
_QUERY_SECRET = re.compile(
    r"((?:api[_-]?key|access[_-]?token|refresh[_-]?token|token|password)=)[^&\s\"']+",
    re.IGNORECASE,
)
_URL_WITH_PASSWORD = re.compile(r"([a-z][a-z0-9+.\-]*://[^:/@\s]*:)([^@\s]+)(@)", re.IGNORECASE)


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _URL_WITH_PASSWORD.sub(rf"\1{REDACTED}\3", url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:{REDACTED}@{host}" if parts.username else f":{REDACTED}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact(value: Any, key: str | None = None) -> Any:
    """Return ``value`` with secrets masked: secret-named keys and passwords inside URLs."""
    if key is not None and SECRET_KEY_PATTERN.search(key):
        return REDACTED
    if isinstance(value, str):
        if "=" in value:
            value = _QUERY_SECRET.sub(rf"\1{REDACTED}", value)
        return _URL_WITH_PASSWORD.sub(rf"\1{REDACTED}\3", value) if "://" in value else value
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


def _redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key in ("event", "timestamp", "level", "logger"):
            if key == "event":
                event_dict[key] = redact(event_dict[key])
            continue
        event_dict[key] = redact(event_dict[key], key)
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "json", stream: Any = None) -> None:
    """Configure structlog and the standard library to emit one structured line per event."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # Plain tracebacks: rich ones print local variables, which may hold secrets.
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redact_processor,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def bind_request_context(**values: Any) -> None:
    """Bind values (request_id, tenant_id, service) to every log line of this context."""
    structlog.contextvars.bind_contextvars(**values)


def clear_request_context() -> None:
    structlog.contextvars.clear_contextvars()


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
