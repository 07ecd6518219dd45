"""The four exported datasets over their stores.

Trades are the analytics service's own raw closed trades; bars and predictions are tables
of the data bridge and the ml service, whose specs the runtime passes in (their modules are
private to them); signals live in the trading service's relational table, read through a
source the runtime supplies.
"""

from __future__ import annotations

from chainflow.analytics.exports.datasets import (
    BAR_COLUMNS,
    PREDICTION_COLUMNS,
    SIGNAL_COLUMNS,
    TRADE_COLUMNS,
    ExportDataset,
    ExportSource,
)
from chainflow.analytics.exports.sources import TimeSeriesSource
from chainflow.analytics.tables import TRADES_SERIES, TRADES_TABLE
from chainflow.storage.api import TableSpec, TimeSeriesStore


def export_datasets(
    *,
    store: TimeSeriesStore,
    bars: TableSpec,
    predictions: TableSpec,
    signals: ExportSource,
) -> dict[str, ExportDataset]:
    """Return the datasets by name: trades, signals, bars, predictions."""
    trades = TimeSeriesSource(
        store, TRADES_TABLE, series=TRADES_SERIES, symbol_column="trade_symbol"
    )
    return {
        "trades": ExportDataset("trades", TRADE_COLUMNS, trades, symbol_key="trade_symbol"),
        "signals": ExportDataset("signals", SIGNAL_COLUMNS, signals),
        "bars": ExportDataset(
            "bars", BAR_COLUMNS, TimeSeriesSource(store, bars), needs_symbol=True
        ),
        "predictions": ExportDataset(
            "predictions",
            PREDICTION_COLUMNS,
            TimeSeriesSource(store, predictions),
            needs_symbol=True,
        ),
    }
