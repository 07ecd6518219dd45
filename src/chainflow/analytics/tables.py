"""The analytics tables in the time-series store: raw closed trades and their rollups.

The store keys every row by (tenant_id, symbol, ts); analytics tables use ``symbol`` as the
*series* of the row (a fixed name, or the breakdown dimension), so that one scan reads
everything a dashboard query needs:

- ``analytics_trades`` (raw, series ``closed_trades``, ts = exit time): one row per closed
  trade, replaced by ``seq`` (re-ingesting a trade is harmless).
- ``analytics_daily`` (series ``pnl``, ts = UTC day start): realized P&L, gross profit and
  loss, trades and winning trades of the day.
- ``analytics_breakdown`` (series = dimension, ts = 0, replaced by ``key``): the same
  figures per symbol, model, regime, session and reason template.
- ``analytics_cursor`` (series ``closed_trades``, ts = 0): the next trade seq to apply.
"""

from __future__ import annotations

from chainflow.storage.api import ColumnSpec, ColumnType, TableSpec

TRADES_SERIES = "closed_trades"
DAILY_SERIES = "pnl"
DIMENSIONS = ("symbol", "model", "regime", "session", "reason")

_FIGURES = (
    ColumnSpec("pnl", ColumnType.FLOAT64),
    ColumnSpec("gross_profit", ColumnType.FLOAT64),
    ColumnSpec("gross_loss", ColumnType.FLOAT64),
    ColumnSpec("trades", ColumnType.INT64),
    ColumnSpec("wins", ColumnType.INT64),
)

TRADES_TABLE = TableSpec(
    "analytics_trades",
    (
        ColumnSpec("seq", ColumnType.INT64),
        ColumnSpec("trade_symbol", ColumnType.STRING),
        ColumnSpec("side", ColumnType.STRING),
        ColumnSpec("lots", ColumnType.FLOAT64),
        ColumnSpec("entry_ts", ColumnType.INT64),
        ColumnSpec("entry_price", ColumnType.FLOAT64),
        ColumnSpec("exit_price", ColumnType.FLOAT64),
        ColumnSpec("pnl", ColumnType.FLOAT64),
        ColumnSpec("model", ColumnType.STRING),
        ColumnSpec("regime", ColumnType.STRING),
        ColumnSpec("reasons", ColumnType.STRING),
        ColumnSpec("exit_reason", ColumnType.STRING),
    ),
    replace_key=("seq",),
)

DAILY_TABLE = TableSpec("analytics_daily", _FIGURES, replace_key=())

BREAKDOWN_TABLE = TableSpec(
    "analytics_breakdown", (ColumnSpec("key", ColumnType.STRING), *_FIGURES), replace_key=("key",)
)

CURSOR_TABLE = TableSpec(
    "analytics_cursor", (ColumnSpec("next_seq", ColumnType.INT64),), replace_key=()
)

ALL_TABLES = (TRADES_TABLE, DAILY_TABLE, BREAKDOWN_TABLE, CURSOR_TABLE)
