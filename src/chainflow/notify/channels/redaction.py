"""Keep credentials that travel in URLs out of httpx's request log lines.

The Telegram Bot API puts the bot token in the URL path (``/bot<token>/sendMessage``) and
httpx logs every request URL at INFO on the ``httpx`` logger. A filter on that logger masks
every registered secret in the record before any handler formats it.
"""

from __future__ import annotations

import logging

from chainflow.core.logging import REDACTED

__all__ = ["mask_secret_in_http_logs", "redact_secret"]

_LOGGERS = ("httpx", "httpcore")


class _SecretMaskFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__("chainflow.notify.secret_mask")
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        masked = message
        for secret in self.secrets:
            masked = masked.replace(secret, REDACTED)
        if masked != message:
            record.msg = masked
            record.args = None
        return True


_FILTER = _SecretMaskFilter()


def mask_secret_in_http_logs(secret: str) -> None:
    """Mask ``secret`` in every log record of the ``httpx``/``httpcore`` loggers."""
    if not secret:
        return
    _FILTER.secrets.add(secret)
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def redact_secret(text: str, secret: str) -> str:
    """Return ``text`` with ``secret`` replaced by ``***``."""
    return text.replace(secret, REDACTED) if secret else text
