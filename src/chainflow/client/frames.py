"""Close codes, exceptions and counters of the MT5 client (``docs/mt5-protocol.md``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

CLOSE_AUTH_FAILED = 4001
CLOSE_PROTOCOL_VIOLATION = 4002
CLOSE_FORBIDDEN = 4003
CLOSE_TIER_LIMIT = 4008
CLOSE_LIFETIME_REACHED = 4010
CLOSE_SERVICE_RESTART = 1012
"""The server is draining (SIGTERM): reconnect, to it once it is back or to another replica."""

PERMANENT_CLOSE_CODES = frozenset({CLOSE_AUTH_FAILED, CLOSE_FORBIDDEN, CLOSE_PROTOCOL_VIOLATION})
"""Reconnecting cannot help: the client stops and raises instead of looping."""

MAX_BATCH_ITEMS = 1000
"""The server closes the connection (4002) on a ``ticks`` message with more items."""


class Mt5ClientError(Exception):
    """The MT5 client cannot go on; ``close_code`` is the server's close code if any."""

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        self.close_code = close_code


class Mt5AuthError(Mt5ClientError):
    """The API key is wrong, revoked or lacks the ``ticks:write`` scope (close 4001/4003)."""


class Mt5ConnectionError(Mt5ClientError):
    """The server cannot be reached (initial connect, or reconnect attempts exhausted)."""


@dataclass(slots=True)
class ClientStats:
    """What the client did; ``errors`` counts every ``error`` frame by code.

    ``settled`` ticks are covered by an ack: stored, or refused for good (their refusal is in
    ``rejected``; a ``duplicate`` after a resend means the first copy was stored).
    """

    submitted: int = 0
    settled: int = 0
    ticks_sent: int = 0
    resent: int = 0
    frames_sent: int = 0
    reconnects: int = 0
    signals: int = 0
    signals_dropped: int = 0
    unknown_frames: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
