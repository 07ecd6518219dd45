"""The connection protocol of ingestion: the acked ``seq``, error frames and violations.

Acks carry the highest *contiguous settled* ``seq``: a tick is settled when it is stored or
definitively refused (an ``error`` frame told the client why, resending it cannot help).
Rate-limited ticks are not settled: the client resends them, and the ack waits for them.
"""

from __future__ import annotations

from typing import Any

from chainflow.bridge.tick_message import RejectCode, Rejection
from chainflow.core.market import Tick

Frame = dict[str, Any]


class ProtocolViolation(Exception):
    """The client broke the protocol; the connection closes with ``close_code``."""

    def __init__(self, message: str, close_code: int = 4002) -> None:
        super().__init__(message)
        self.close_code = close_code


class SeqTracker:
    """The highest contiguous settled ``seq`` of one connection.

    The run starts at the lowest seq of the connection's first message (``observe``), not at
    the first settled one: if that message's first ticks were rate-limited, the ack must
    wait for them instead of passing over them.
    """

    def __init__(self) -> None:
        self._next: int | None = None
        self._pending: set[int] = set()
        self.highest: int | None = None

    def observe(self, seqs: list[int]) -> None:
        if self._next is None and seqs:
            self._next = min(seqs)

    def settle(self, seq: int) -> None:
        if self._next is None:
            self._next = seq
        if seq < self._next:
            return  # settled before (a resend)
        self._pending.add(seq)
        while self._next in self._pending:
            self._pending.discard(self._next)
            self.highest = self._next
            self._next += 1


def duplicate_rejection(tick: Tick, seq: int | None) -> Rejection:
    """Return the refusal of a tick the store already holds."""
    return Rejection(
        RejectCode.DUPLICATE,
        f"expected a tick not stored before; {tick.symbol} ts {tick.ts} bid {tick.bid!r} "
        f"ask {tick.ask!r} is already stored",
        seq,
    )


def error_frame(code: RejectCode | str, message: str, seq: int | None = None) -> Frame:
    """Return the ``error`` frame telling the client why a message or tick was refused."""
    value = code.value if isinstance(code, RejectCode) else code
    return {"type": "error", "code": value, "message": message, "seq": seq}


def rejected_frame(rejection: Rejection) -> Frame:
    """Return the ``error`` frame of ``rejection``."""
    return error_frame(rejection.code, rejection.message, rejection.seq)
