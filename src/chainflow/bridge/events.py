"""What the bridge publishes, and the topic builders (tokens escaped: ``EURUSD.a`` is safe)."""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import orjson

from chainflow.core.errors import MalformedEventError
from chainflow.core.market import Timeframe
from chainflow.core.messages import Event, topic
from chainflow.core.settings.infrastructure import DEFAULT_BUS_PARTITIONS
from chainflow.hub.api import partition_of, partition_token


@functools.lru_cache(maxsize=65536)
def ticks_topic(tenant_id: str, symbol: str, *, partitions: int = DEFAULT_BUS_PARTITIONS) -> str:
    """Return ``bridge.ticks.p<k>.<tenant>.<symbol>``: batches of accepted ticks.

    ``k = partition_of(tenant, partitions)``, as for ``bars_topic``: a replica of the tick
    hot path subscribes to the ticks and bars of the partitions it owns
    (``market_events_of_partition``). Cached: the bridge builds it per published batch,
    and hashing and escaping the tokens each time would be wasted work on the hot path.
    Publishers pass ``partitions=bus.partitions``.
    """
    partition = partition_of(tenant_id, partitions=partitions)
    return topic("bridge", "ticks", partition_token(partition), tokens=(tenant_id, symbol))


def bars_topic(
    tenant_id: str,
    symbol: str,
    timeframe: Timeframe,
    *,
    partitions: int = DEFAULT_BUS_PARTITIONS,
) -> str:
    """Return ``bridge.bars.p<k>.<tenant>.<symbol>.<tf>``: closed (and revised) bars.

    ``k = partition_of(tenant, partitions)``: bars are partitioned by tenant, so that one
    replica of a consumer holds every symbol of a tenant (the live cross-asset correlation
    spans a tenant's symbols). Publishers pass ``partitions=bus.partitions``.
    """
    partition = partition_of(tenant_id, partitions=partitions)
    return topic(
        "bridge", "bars", partition_token(partition), tokens=(tenant_id, symbol, timeframe.value)
    )


def bars_of_partition(partition: int) -> str:
    """Return the wildcard subject of the bars of one partition (``bridge.bars.p<k>.>``)."""
    return topic("bridge", "bars", partition_token(partition)) + ".>"


def bars_of_symbol(tenant_id: str, symbol: str) -> str:
    """Return the wildcard subject of one symbol's bars, every timeframe (any partition)."""
    return topic("bridge", "bars") + ".*." + topic(tokens=(tenant_id, symbol)) + ".*"


def all_bars() -> str:
    """Return the wildcard subject of every tenant's bars, every symbol and timeframe."""
    return topic("bridge", "bars") + ".>"


def all_ticks_of_tenant(tenant_id: str) -> str:
    """Return the wildcard subject of every symbol's ticks of one tenant (any partition)."""
    return topic("bridge", "ticks") + ".*." + topic(tokens=(tenant_id,)) + ".*"


def ticks_of_symbol(tenant_id: str, symbol: str) -> str:
    """Return the wildcard subject of one symbol's ticks (any partition)."""
    return topic("bridge", "ticks") + ".*." + topic(tokens=(tenant_id, symbol))


def all_market_events() -> str:
    """Return ``bridge.>``: ticks and bars in one subject space, in publication order.

    One subscription on it sees a bar that closed before the ticks of the next bar (the
    bridge publishes in that order), which the trading hot path relies on.
    """
    return topic("bridge") + ".>"


def market_events_of_partition(partition: int) -> str:
    """Return ``bridge.*.p<k>.>``: the ticks and bars of one partition, in one subject space.

    One subscription on it keeps the order of a bar and the ticks after it, as
    ``all_market_events`` does for all partitions; the unpartitioned executions and hellos
    (``bridge.<kind>.<tenant>``, one token fewer) never match it.
    """
    return topic("bridge") + ".*." + partition_token(partition) + ".>"


def all_executions() -> str:
    """Return the wildcard subject of every tenant's execution reports."""
    return topic("bridge", "executions") + ".*"


def market_event_kind(subject: str) -> str | None:
    """Return ``"ticks"``, ``"bars"``, ``"executions"`` or ``"hello"`` for a ``bridge.>``
    subject."""
    parts = subject.split(".", 2)
    kinds = ("ticks", "bars", "executions", "hello")
    if len(parts) == 3 and parts[0] == "bridge" and parts[1] in kinds:
        return parts[1]
    return None


class TickRow(NamedTuple):
    """One accepted tick as the hot path reads it (a tuple on the wire: ``[ts, bid, ...]``)."""

    ts: int
    bid: float
    ask: float
    volume: float
    late: bool  # out of order: stored, but it does not move the forming bar
    seq: int | None  # the client's frame seq, echoed in the tick's signal


def _row_as_list(value: object) -> object:
    if isinstance(value, TickRow):
        return tuple(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class TicksAccepted(Event):
    """Ticks of one symbol durably stored, in arrival order; ``late`` per tick.

    ``connection`` names the MT5 connection they came on and ``signals`` its signal mode
    (``on_change`` or ``every_tick``), so that the trading hot path can answer that
    connection with the ticks' ``seq``. ``received_us`` is the wall time (epoch µs) the
    frame was received: the start of a signal's ``latency_ms``.
    """

    tenant_id: str
    symbol: str
    ts_recv_ms: int
    ticks: tuple[TickRow, ...]
    connection: str = ""
    signals: str = "on_change"
    received_us: int = 0

    def to_json(self) -> bytes:
        return orjson.dumps(
            {  # per tick on the hot path: no dataclasses.asdict
                "tenant_id": self.tenant_id,
                "symbol": self.symbol,
                "ts_recv_ms": self.ts_recv_ms,
                "ticks": self.ticks,
                "connection": self.connection,
                "signals": self.signals,
                "received_us": self.received_us,
            },
            default=_row_as_list,
            option=orjson.OPT_SERIALIZE_NUMPY,
        )

    @classmethod
    def from_json(cls, data: bytes) -> TicksAccepted:
        """Parse published ticks; raise ``MalformedEventError`` (a ``ValueError``) otherwise."""
        try:
            raw: dict[str, Any] = orjson.loads(data)
            rows = tuple(
                TickRow(
                    int(r[0]),
                    float(r[1]),
                    float(r[2]),
                    float(r[3]),
                    bool(r[4]),
                    None if len(r) < 6 or r[5] is None else int(r[5]),
                )
                for r in raw["ticks"]
            )
            return cls(
                tenant_id=str(raw["tenant_id"]),
                symbol=str(raw["symbol"]),
                ts_recv_ms=int(raw["ts_recv_ms"]),
                ticks=rows,
                connection=str(raw.get("connection", "")),
                signals=str(raw.get("signals", "on_change")),
                received_us=int(raw.get("received_us", 0)),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise MalformedEventError(
                f"expected published ticks; received {data[:200]!r}: {exc}"
            ) from exc


def executions_topic(tenant_id: str) -> str:
    """Return ``bridge.executions.<tenant>``: MT5 execution reports of a tenant's clients."""
    return topic("bridge", "executions", tokens=(tenant_id,))


EXECUTION_FIELDS = ("symbol", "side", "volume", "price", "ticket", "ts")


@dataclass(frozen=True, slots=True)
class ExecutionReported(Event):
    """A real fill the MT5 client reported (``{"type":"execution",...}``), as received."""

    tenant_id: str
    connection: str
    fields: dict[str, Any]

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict()).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ExecutionReported:
        try:
            raw = json.loads(data)
            return cls(str(raw["tenant_id"]), str(raw["connection"]), dict(raw["fields"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedEventError(
                f"expected an execution report; received {data[:200]!r}"
            ) from exc


def connections_topic(tenant_id: str) -> str:
    """Return ``bridge.connections.<tenant>``: MT5 connections of a tenant opened or closed."""
    return topic("bridge", "connections", tokens=(tenant_id,))


def all_connections() -> str:
    """Return the wildcard subject of every tenant's connection changes."""
    return topic("bridge", "connections") + ".*"


@dataclass(frozen=True, slots=True)
class ConnectionChanged(Event):
    """An authenticated ``WS /ws/ticks`` connection opened (``state="connected"``) or
    closed (``"disconnected"``, with the close code when the server chose one).

    ``api_key_id`` names the key the terminal signed in with (one key per terminal is the
    documented use); ``connection`` is the connection's id; ``ts`` is epoch milliseconds.
    """

    tenant_id: str
    connection: str
    api_key_id: str
    user_id: str
    state: str
    ts: int
    close_code: int | None = None

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict()).encode()


def symbols_declared_topic(tenant_id: str) -> str:
    """Return ``bridge.hello.<tenant>``: a terminal named the symbols it streams."""
    return topic("bridge", "hello", tokens=(tenant_id,))


def all_symbols_declared() -> str:
    """Return the wildcard subject of every tenant's terminal hellos."""
    return topic("bridge", "hello") + ".*"


@dataclass(frozen=True, slots=True)
class SymbolsDeclared(Event):
    """A terminal's ``hello`` named the (canonical) symbols it will stream, so that their
    state can be built before their first tick; ``ts`` is the server time, epoch ms."""

    tenant_id: str
    connection: str
    symbols: tuple[str, ...]
    ts: int

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict()).encode()

    @classmethod
    def from_json(cls, data: bytes) -> SymbolsDeclared:
        """Parse a published hello; raise ``MalformedEventError`` (a ``ValueError``) otherwise."""
        try:
            raw: dict[str, Any] = json.loads(data)
            symbols = raw["symbols"]
            if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
                raise TypeError("symbols must be a list of strings")
            return cls(
                tenant_id=str(raw["tenant_id"]),
                connection=str(raw["connection"]),
                symbols=tuple(symbols),
                ts=int(raw["ts"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedEventError(
                f"expected a symbols hello; received {data[:200]!r}: {exc}"
            ) from exc


def aliases_changed_topic(tenant_id: str) -> str:
    """Return ``bridge.aliases.changed.<tenant>``: a tenant's alias table was replaced."""
    return topic("bridge", "aliases", "changed", tokens=(tenant_id,))


def all_aliases_changed() -> str:
    return topic("bridge", "aliases", "changed") + ".*"


@dataclass(frozen=True, slots=True)
class BarPublished(Event):
    """A bar closed (``revised=False``) or a late tick changed a closed bar (``revised=True``).

    Published on ``bars_topic`` after the bar is stored. ``spread_mean`` is the mean ask-bid
    spread of the bar's ticks, ``None`` when unknown (a bar without ticks).
    """

    tenant_id: str
    symbol: str
    timeframe: str
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    tick_count: int
    spread_mean: float | None
    revised: bool = False

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict()).encode()

    @classmethod
    def from_json(cls, data: bytes) -> BarPublished:
        """Parse a published bar; raise ``MalformedEventError`` (a ``ValueError``) otherwise."""
        try:
            raw: dict[str, Any] = json.loads(data)
            spread = raw.get("spread_mean")
            bar = cls(
                tenant_id=str(raw["tenant_id"]),
                symbol=str(raw["symbol"]),
                timeframe=Timeframe(raw["timeframe"]).value,
                ts=int(raw["ts"]),
                open=float(raw["open"]),
                high=float(raw["high"]),
                low=float(raw["low"]),
                close=float(raw["close"]),
                volume=float(raw["volume"]),
                tick_count=int(raw.get("tick_count", 0)),
                spread_mean=None if spread is None else float(spread),
                revised=bool(raw.get("revised", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedEventError(
                f"expected a published bar; received {data[:200]!r}: {exc}"
            ) from exc
        if bar.spread_mean is not None and not math.isfinite(bar.spread_mean):
            return replace(bar, spread_mean=None)
        return bar
