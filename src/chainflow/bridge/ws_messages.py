"""The client messages of ``WS /ws/ticks`` and ``WS /ws/stream``: bounded decoding and shapes.

Nothing a client sends makes these functions raise: each returns the checked value or a
``Rejection`` (code ``invalid_schema``, the message's ``seq`` when it carries a valid one).

``decode_frame`` bounds the nesting depth *before* the JSON parser sees the text: the
standard parser recurses once per level, so 5,000 nested brackets raised ``RecursionError``
and dropped the connection. The scan works on bytes (``translate`` keeps only quotes,
brackets and backslashes), so it costs about 0.2 µs for a one-tick frame and 0.2 ms for a
batch of 1000 ticks, against 0.7 ms for ``json.loads`` of that batch
(``benchmarks/bench_ws_messages.py``).

The models then check the shape of every message but the tick items: ``hello``,
``execution`` and the ``ticks`` envelope on ``/ws/ticks``, ``subscribe``/``unsubscribe`` on
``/ws/stream``. A tick item is checked by ``tick_message.parse_tick_message`` instead: it
runs per tick, and gives each refusal its own code (``invalid_volume``; non-finite prices are
left to the validator's ``non_finite_price``).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from chainflow.bridge.events import EXECUTION_FIELDS
from chainflow.bridge.tick_message import (
    MAX_SEQ,
    MAX_SYMBOL_CHARS,
    RejectCode,
    Rejection,
    describe_value,
    parse_timestamp,
)

MAX_FRAME_CHARS = 1_048_576
"""The longest text frame read on either endpoint (``docs/mt5-protocol.md`` section 1)."""
MAX_FRAME_BYTES = 4 * MAX_FRAME_CHARS
"""What uvicorn reads of one WebSocket message (``ws_max_size``): a frame of
``MAX_FRAME_CHARS`` characters in UTF-8; beyond it the server closes with 1009."""
MAX_NESTING_DEPTH = 16
"""The deepest JSON nesting read; the protocols need 3 (a batch: object, list, tick)."""
MAX_HELLO_SYMBOLS = 1000
MAX_STREAM_SYMBOLS = 100
MAX_EXECUTION_LOTS = 1e6
MAX_PRICE = 1e12
MAX_TICKET_CHARS = 64
MAX_TS_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z, the last instant an ISO-8601 timestamp can name."""

_STRUCTURE = b'"[]{}\\'
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in _STRUCTURE)
_EMPTY_PAIR = re.compile(rb"\[\]|\{\}")


def is_nested_deeper(text: str, limit: int = MAX_NESTING_DEPTH) -> bool:
    """Return whether JSON ``text`` nests deeper than ``limit`` or has unbalanced brackets.

    Only brackets outside strings count: escaped backslashes and quotes are dropped first,
    then everything but quotes and brackets, then each string's quotes (a string is left
    holding only its own brackets). The bracket sequence left is emptied by removing the
    innermost ``[]``/``{}`` pairs once per level. For a text the JSON parser rejects part way,
    the answer covers every level it would have entered before failing.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    data = text.encode("utf-8", "surrogatepass")
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Two quotes side by side are an empty string, or a string's end and the next one's
    # start with only deleted characters between them: dropping them loses no bracket.
    data = data.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in data:
        data = b"".join(data.split(b'"')[::2])
    for _ in range(limit):
        if not data:
            return False
        inner = _EMPTY_PAIR.sub(b"", data)
        if len(inner) == len(data):
            return True  # unbalanced: a bracket without its pair
        data = inner
    return bool(data)


def decode_frame(text: str) -> dict[str, Any] | Rejection:
    """Parse a text frame into a JSON object, refusing deep nesting before parsing."""
    if is_nested_deeper(text):
        return _invalid(
            f"expected JSON nested at most {MAX_NESTING_DEPTH} levels deep; "
            "received deeper or unbalanced nesting"
        )
    try:
        message = json.loads(text)
    except json.JSONDecodeError as e:
        return _invalid(f"expected a JSON object; received invalid JSON ({e.msg} at {e.pos})")
    except ValueError:  # the only other one: an integer of more than 4300 digits
        return _invalid("expected a JSON object; received an integer of more than 4300 digits")
    if not isinstance(message, dict):
        return _invalid(f"expected a JSON object; received {describe_value(message)}")
    return message


def message_seq(message: dict[str, Any]) -> int | None:
    """Return the message's ``seq`` if it is a valid one (to echo in an error frame)."""
    seq = message.get("seq")
    return seq if type(seq) is int and 0 <= seq <= MAX_SEQ else None


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _ticket_text(value: object) -> object:
    if type(value) is int and 0 <= value <= MAX_SEQ:
        return str(value)
    return value


def _epoch_ms(value: object) -> object:
    if isinstance(value, str):
        parsed = parse_timestamp(value)
        if parsed is None:
            raise PydanticCustomError(
                "timestamp", "integer epoch milliseconds or an ISO-8601 string with a timezone"
            )
        return parsed
    return value


SymbolText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SYMBOL_CHARS)]
WireTimestamp = Annotated[int, BeforeValidator(_epoch_ms), Field(gt=0, le=MAX_TS_MS)]
Side = Annotated[Literal["buy", "sell"], BeforeValidator(_lower)]
Ticket = Annotated[
    str,
    BeforeValidator(_ticket_text),
    StringConstraints(min_length=1, max_length=MAX_TICKET_CHARS),
]
Lots = Annotated[float, Field(gt=0, le=MAX_EXECUTION_LOTS, allow_inf_nan=False)]
Price = Annotated[float, Field(gt=0, le=MAX_PRICE, allow_inf_nan=False)]


class ClientMessage(BaseModel):
    """A message a client sent: strict types (a bool is no number), unknown keys ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class TicksMessage(ClientMessage):
    """``{"type":"ticks","items":[...]}``: each item is a tick for ``parse_tick_message``."""

    type: Literal["ticks"]
    items: list[Any]


class HelloMessage(ClientMessage):
    """``{"type":"hello","signals":...,"symbols":[...]}``; ``null`` counts as absent."""

    type: Literal["hello"]
    signals: Literal["on_change", "every_tick"] | None = None
    symbols: Annotated[list[SymbolText], Field(max_length=MAX_HELLO_SYMBOLS)] | None = None


class ExecutionMessage(ClientMessage):
    """A real fill the MT5 client reports; ``ticket`` may be an integer, ``side`` any case."""

    type: Literal["execution"]
    symbol: SymbolText
    side: Side
    volume: Lots
    price: Price
    ticket: Ticket
    ts: WireTimestamp

    def published_fields(self, symbol: str) -> dict[str, Any]:
        """Return the ``ExecutionReported`` fields (``EXECUTION_FIELDS``) with ``symbol``."""
        values = (symbol, self.side, self.volume, self.price, self.ticket, self.ts)
        return dict(zip(EXECUTION_FIELDS, values, strict=True))


class StreamRequest(ClientMessage):
    """``/ws/stream``: ``{"type":"subscribe"|"unsubscribe","symbols":[...]}``."""

    type: Literal["subscribe", "unsubscribe"]
    symbols: Annotated[list[SymbolText], Field(max_length=MAX_STREAM_SYMBOLS)]


MessageT = TypeVar("MessageT", bound=ClientMessage)


def validate_message(model: type[MessageT], message: dict[str, Any]) -> MessageT | Rejection:
    """Return ``message`` checked as ``model``, or a ``Rejection`` naming its first problem."""
    try:
        return model.model_validate(message)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        problem = _explain(errors[0])
        if len(errors) > 1:
            problem += f" (and {len(errors) - 1} more problems)"
        return _invalid(problem, message_seq(message))


def _explain(error: ErrorDetails) -> str:
    where = _location(error["loc"])
    if error["type"] == "missing":
        return f"expected {where}; received nothing (the field is missing)"
    if error["type"] in _LENGTH_ERRORS:
        context = error.get("ctx", {})
        bound = "at most" if "max_length" in context else "at least"
        length = context.get("max_length", context.get("min_length"))
        if isinstance(error["input"], str):
            expected = f"a string of {bound} {length} characters"
            return f"expected {where} to be {expected}; received {len(error['input'])} characters"
        expected = f"a list of {bound} {length} items"
        return f"expected {where} to be {expected}; received {len(error['input'])} items"
    expected = error["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
    return f"expected {where} to be {expected}; received {describe_value(error['input'])}"


_LENGTH_ERRORS = frozenset({"too_long", "too_short", "string_too_long", "string_too_short"})


def _location(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "the message"
    text = repr(loc[0])
    for part in loc[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _invalid(message: str, seq: int | None = None) -> Rejection:
    return Rejection(RejectCode.INVALID_SCHEMA, message, seq)
