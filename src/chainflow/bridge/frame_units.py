"""A connection's frames as units of work: ticks of consecutive frames, or one message.

Frames read while the previous ones were being stored are handled together
(``bridge.routes``): their ticks form one unit (validated in one pass, stored in one
durable commit, acked once), so a slow commit makes the next unit larger instead of
queueing frames behind it. Every other frame (``hello``, ``execution``, one that is not
JSON or not a known message) is a unit of its own, in order, and a frame that breaks the
protocol is a unit that closes the connection after the units before it were answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chainflow.bridge.ingest_protocol import Frame, error_frame, rejected_frame
from chainflow.bridge.tick_message import RejectCode, Rejection, describe_value
from chainflow.bridge.ws_messages import TicksMessage, decode_frame, message_seq, validate_message

MAX_BATCH_ITEMS = 1000  # ticks in one ``ticks`` frame
MAX_MERGED_ITEMS = 5000  # ticks of consecutive frames handled as one unit


@dataclass(slots=True)
class Unit:
    """Ticks of one or more consecutive frames, another message, a ready answer, or a
    protocol violation that closes the connection."""

    received_us: int  # when its (first) frame was read from the socket
    items: list[Any] | None = None
    message: dict[str, Any] | None = None
    answer: list[Frame] = field(default_factory=list)
    violation: str | None = None


def unit_of(text: str, received_us: int) -> Unit:
    """Return the unit of one text frame."""
    message = decode_frame(text)  # nesting bounded before parsing; never raises
    if isinstance(message, Rejection):
        return Unit(received_us, answer=[rejected_frame(message)])
    kind = message.get("type")
    if kind == "tick":
        return Unit(received_us, items=[message])
    if kind == "ticks":
        batch = validate_message(TicksMessage, message)
        if isinstance(batch, Rejection):
            return Unit(received_us, answer=[rejected_frame(batch)])
        if len(batch.items) > MAX_BATCH_ITEMS:
            problem = f"a batch holds at most {MAX_BATCH_ITEMS} ticks; received {len(batch.items)}"
            return Unit(received_us, violation=problem)
        return Unit(received_us, items=list(batch.items))
    if kind in ("hello", "execution"):
        return Unit(received_us, message=message)
    received = repr(kind[:40]) if isinstance(kind, str) else describe_value(kind)
    problem = f"expected type 'tick', 'ticks', 'hello' or 'execution'; received {received}"
    return Unit(
        received_us,
        answer=[error_frame(RejectCode.INVALID_SCHEMA, problem, message_seq(message))],
    )


def sliced_units(units: Iterable[Unit], max_items: int) -> Iterator[Unit]:
    """Yield ``units`` in order with the tick units that follow each other merged and cut
    into pieces of at most ``max_items`` ticks (a piece keeps the receive time of the first
    frame it holds ticks of). ``units`` is consumed lazily: a frame is decoded only when
    the piece before it was taken."""
    if max_items < 1:
        raise ValueError(f"expected max_items >= 1; received {max_items}")
    held: list[Any] = []  # ticks of the piece being filled
    held_us = 0  # its receive time
    for unit in units:
        if unit.items is None:
            if held:
                yield Unit(held_us, items=held)
                held = []
            yield unit
            continue
        if not held:
            held_us = unit.received_us
        held = held + unit.items
        while len(held) >= max_items:
            yield Unit(held_us, items=held[:max_items])
            held, held_us = held[max_items:], unit.received_us  # the rest is this frame's
    if held:
        yield Unit(held_us, items=held)
