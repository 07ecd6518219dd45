"""Defence in depth for the WebSocket endpoint loops: a failed message is answered, not fatal.

Every client message is checked before use (``ws_messages``), so an exception while handling
one is either an expected refusal from below (a ``ChainflowError`` such as
``dependency_unavailable``: answered with its code) or a bug. Either way the endpoint loop
answers an ``error`` frame and reads the next message, instead of letting the exception end
the connection with 1011 ("Exception in ASGI application"). A connection logs its first bug
with the traceback and only counts the others (logged once at close), so a client repeating
a message that hits a bug cannot flood the log.
"""

from __future__ import annotations

from typing import Any

from chainflow.core.errors import ChainflowError
from chainflow.core.logging import get_logger

log = get_logger("chainflow.bridge.websocket")

INTERNAL_ERROR = "internal_error"


class MessageGuard:
    """Turn the exception of one message into an ``error`` frame; log it once per connection."""

    def __init__(self, endpoint: str, connection_id: str, tenant_id: str) -> None:
        self._context = {"endpoint": endpoint, "connection": connection_id, "tenant": tenant_id}
        self.failures = 0

    def answer(self, error: Exception, seq: int | None = None) -> dict[str, Any]:
        """Return the ``error`` frame for ``error``; log it (a bug's traceback only once)."""
        if isinstance(error, ChainflowError):
            log.warning(
                "websocket_message_refused", code=error.code, error=error.message, **self._context
            )
            return _frame(error.code, error.message, seq)
        self.failures += 1
        if self.failures == 1:
            log.error("websocket_message_failed", exc_info=error, **self._context)
        return _frame(
            INTERNAL_ERROR,
            "the server failed to handle this message; it has been logged, the connection "
            "stays open",
            seq,
        )

    def close(self) -> None:
        """Log how many messages of the connection failed, if more than the one logged."""
        if self.failures > 1:
            log.error("websocket_message_failures", failures=self.failures, **self._context)


def _frame(code: str, message: str, seq: int | None) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "seq": seq}
