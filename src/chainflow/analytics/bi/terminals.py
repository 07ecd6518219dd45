"""Active MT5 terminals: ``WS /ws/ticks`` connections seen on the bus recently.

Every connection's per-tick answers go out on ``trading.connection.<tenant>.<connection>``
(at least one ``signal`` frame per closed bar, one per tick in ``every_tick`` mode). A
terminal counts as active while a frame of its connection was seen within ``window_ms``
(15 minutes by default: three M5 bars), in any process, since the bus carries them all.
"""

from __future__ import annotations

from collections import Counter

from chainflow.core.messages import unescape_token

DEFAULT_WINDOW_MS = 15 * 60_000
CONNECTION_PARTS = 4  # trading.connection.<tenant>.<connection>


class TerminalTracker:
    """When each (tenant, connection) was last seen."""

    def __init__(self, window_ms: int = DEFAULT_WINDOW_MS) -> None:
        self.window_ms = window_ms
        self._seen: dict[tuple[str, str], int] = {}

    def record(self, subject: str, now_ms: int) -> None:
        """Note a message on a connection subject at ``now_ms``."""
        parts = subject.split(".")
        if len(parts) == CONNECTION_PARTS:
            self._seen[(unescape_token(parts[2]), parts[3])] = now_ms

    def active(self, now_ms: int) -> Counter[str]:
        """Return the active terminals per tenant (and forget the stale ones)."""
        cutoff = now_ms - self.window_ms
        stale = [key for key, seen in self._seen.items() if seen < cutoff]
        for key in stale:
            del self._seen[key]
        return Counter(tenant for tenant, _connection in self._seen)
