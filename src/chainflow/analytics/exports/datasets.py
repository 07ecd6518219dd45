"""What each export holds: its columns, how each is rendered, where its rows come from.

A source yields the tenant's rows of the range in batches, oldest first; each row is a
mapping with at least the keys the dataset's columns read. Prices are rendered with the
digits of the row's symbol (``risk.api.default_instrument``), times as ISO-8601 UTC.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

Row = Mapping[str, Any]


class ColumnKind(Enum):
    """How a column is rendered (CSV) and typed (Parquet)."""

    TIME = "time"  # epoch ms -> ISO-8601 UTC / TIMESTAMP WITH TIME ZONE
    PRICE = "price"  # the symbol's digits
    MONEY = "money"  # two decimals
    FLOAT = "float"
    INT = "int"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class ExportColumn:
    """One exported column: its header, its kind and the row key it reads."""

    name: str
    kind: ColumnKind
    key: str


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """One tenant's rows with ``start_ms <= ts < end_ms``, of one symbol if given."""

    tenant_id: str
    start_ms: int
    end_ms: int
    symbol: str | None = None
    timeframe: str | None = None


class ExportSource(Protocol):
    """Where a dataset's rows come from."""

    def batches(self, query: ExportQuery, batch_rows: int) -> AsyncIterator[Sequence[Row]]:
        """Yield the query's rows oldest first, at most about ``batch_rows`` at a time."""
        ...


@dataclass(frozen=True, slots=True)
class ExportDataset:
    """A named export: columns, the key of the row's symbol, whether a symbol is required."""

    name: str
    columns: tuple[ExportColumn, ...]
    source: ExportSource
    symbol_key: str = "symbol"
    needs_symbol: bool = False


def _columns(*spec: tuple[str, ColumnKind, str]) -> tuple[ExportColumn, ...]:
    return tuple(ExportColumn(name, kind, key) for name, kind, key in spec)


T, P, M, F, N, S = (
    ColumnKind.TIME,
    ColumnKind.PRICE,
    ColumnKind.MONEY,
    ColumnKind.FLOAT,
    ColumnKind.INT,
    ColumnKind.TEXT,
)

TRADE_COLUMNS = _columns(
    ("exit_time", T, "ts"),
    ("entry_time", T, "entry_ts"),
    ("seq", N, "seq"),
    ("symbol", S, "trade_symbol"),
    ("side", S, "side"),
    ("lots", F, "lots"),
    ("entry_price", P, "entry_price"),
    ("exit_price", P, "exit_price"),
    ("pnl", M, "pnl"),
    ("model", S, "model"),
    ("regime", S, "regime"),
    ("reasons", S, "reasons"),
    ("exit_reason", S, "exit_reason"),
)

SIGNAL_COLUMNS = _columns(
    ("time", T, "ts"),
    ("symbol", S, "symbol"),
    ("timeframe", S, "timeframe"),
    ("action", S, "action"),
    ("confidence", F, "confidence"),
    ("size", F, "size"),
    ("stop_loss", P, "stop_loss"),
    ("take_profit", P, "take_profit"),
    ("model", S, "model"),
    ("reasons", S, "reasons"),
)

BAR_COLUMNS = _columns(
    ("time", T, "ts"),
    ("symbol", S, "symbol"),
    ("timeframe", S, "timeframe"),
    ("open", P, "open"),
    ("high", P, "high"),
    ("low", P, "low"),
    ("close", P, "close"),
    ("volume", F, "volume"),
    ("tick_count", N, "tick_count"),
)

PREDICTION_COLUMNS = _columns(
    ("time", T, "ts"),
    ("symbol", S, "symbol"),
    ("timeframe", S, "timeframe"),
    ("model", S, "model"),
    ("p_down", F, "p_down"),
    ("p_flat", F, "p_flat"),
    ("p_up", F, "p_up"),
    ("volatility", F, "volatility"),
    ("momentum", F, "momentum"),
    ("horizon", N, "horizon"),
    ("threshold_atr", F, "threshold_atr"),
    ("close", P, "close"),
    ("atr", F, "atr"),
    ("anomaly", N, "anomaly"),
    ("latency_ms", F, "latency_ms"),
)
