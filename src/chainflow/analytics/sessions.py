"""The FX trading session of a time: which market's hours a trade was opened in (UTC)."""

from __future__ import annotations

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

# (first hour, session) in UTC, each session running until the next one's first hour.
SESSION_HOURS: tuple[tuple[int, str], ...] = (
    (0, "asia"),
    (7, "london"),
    (12, "london_newyork"),
    (16, "newyork"),
    (21, "sydney"),
)


def session_of(ts_ms: int) -> str:
    """Return the session of ``ts_ms``: asia 00-07, london 07-12, london_newyork 12-16,
    newyork 16-21, sydney 21-24 UTC."""
    hour = (ts_ms % DAY_MS) // HOUR_MS
    name = SESSION_HOURS[0][1]
    for first, session in SESSION_HOURS:
        if hour >= first:
            name = session
    return name
