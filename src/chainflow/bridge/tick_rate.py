"""The tier's tick rate on one ``WS /ws/ticks`` connection, admitted in order.

A frame's ticks are taken from the tenant's token bucket (``Cache.take_token``, shared by
the tenant's connections and processes) all or none; what is over the rate is refused
``rate_limited`` with the seqs to resend and when. Order is kept: once ticks were refused,
later frames on the connection are refused too until the first refused seq comes back
(the client's resend), so a resend never lands behind ticks sent after it — those would
revise bars already closed and make every consumer redo them — unless no resend came
within ``RESEND_WAIT_MS`` of reading the connection: the time its frames were left unread
because the tenant was over its CPU share (``core.cpu_share``) does not count
(``postpone``), or a throttled terminal's resend, queued behind its frames sent meanwhile,
would come after the wait and land behind them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chainflow.core.clock import Clock
from chainflow.core.market import Tick
from chainflow.storage.api import Cache

RESEND_WAIT_MS = 5_000
"""How long ticks after a ``rate_limited`` refusal are refused too, waiting for its resend."""

Parsed = list[tuple[Tick, int | None]]


@dataclass(frozen=True, slots=True)
class Refused:
    count: int
    frame: dict[str, Any]


class TickRateGate:
    """Admit a connection's ticks within the tenant's rate, in order; see the module doc."""

    def __init__(self, cache: Cache, clock: Clock, tenant_id: str) -> None:
        self._cache = cache
        self._clock = clock
        self._key = f"rl:ticks:{tenant_id}"
        self._refused_from: tuple[int, int] | None = None  # first refused seq, until when

    def postpone(self, seconds: float) -> None:
        """The connection was left unread for ``seconds``: wait that much longer for the
        resend of a refusal."""
        blocked = self._refused_from
        if blocked is not None and seconds > 0:
            self._refused_from = (blocked[0], blocked[1] + round(seconds * 1000))

    async def admit(self, parsed: Parsed, ticks_per_second: int) -> tuple[Parsed, Refused | None]:
        """Return the ticks admitted and, for the rest, the ``rate_limited`` answer."""
        if not parsed:
            return parsed, None
        capacity = max(1, ticks_per_second)
        now_ms = self._clock.now_ms()
        blocked = self._refused_from
        if blocked is not None:
            resent = any(seq == blocked[0] for _, seq in parsed)
            if resent or now_ms > blocked[1]:
                self._refused_from = None
        if self._refused_from is not None:
            allowed, retry_after_s = 0, 0.0
        else:
            wanted = min(len(parsed), capacity)
            result = await self._cache.take_token(
                self._key,
                capacity=float(capacity),
                refill_per_s=float(capacity),
                cost=float(wanted),
            )
            allowed = wanted if result.allowed else 0
            retry_after_s = result.retry_after_s
        limited = parsed[allowed:]
        if not limited:
            return parsed, None
        seqs = [seq for _, seq in limited if seq is not None]
        if seqs and self._refused_from is None:
            self._refused_from = (min(seqs), now_ms + RESEND_WAIT_MS)
        frame = {
            "type": "error",
            "code": "rate_limited",
            "message": (
                f"the tier allows {capacity} ticks per second; resend these after "
                f"{max(retry_after_s, 0.001):.3f} s"
            ),
            "seq": seqs[0] if seqs else None,
            "details": {"seqs": seqs, "retry_after_s": retry_after_s},
        }
        return parsed[:allowed], Refused(len(limited), frame)
