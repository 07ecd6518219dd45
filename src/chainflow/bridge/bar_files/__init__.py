"""History files as people have them: MT5 exports, pandas/yfinance CSVs, epoch or ISO times.

Formats (the header line decides; ``detect_format``):

- ``mt5-ticks``, MetaTrader 5's tick export: ``<DATE> <TIME> <BID> <ASK> <LAST> <VOLUME>
  <FLAGS>``, DATE ``YYYY.MM.DD``, TIME ``HH:MM:SS.mmm`` (``chunks``).
- ``mt5-bars``, MetaTrader 5's bar export: ``<DATE> <TIME> <OPEN> <HIGH> <LOW> <CLOSE>
  <TICKVOL> <VOL> <SPREAD>`` (daily exports may omit ``<TIME>``); SPREAD in points.
  ``first_tick_ts`` and ``last_tick_ts`` are unknown and set to the bar's open time.
- ``csv``, OHLCV: a time column and Open, High, Low, Close, optionally Volume, tick volume,
  Adj Close and a spread, in any case (``columns``); times as ISO 8601 with or without an
  offset, ``YYYY.MM.DD``, or epoch seconds/ms told apart by magnitude (``timestamps``).

Separators: tab, semicolon or comma; encodings UTF-8/UTF-16 (``source``). Rows to bars,
spreads and checks: ``bar_rows``. Every error is ``InvalidInput`` naming the file, the line,
the column and what was expected vs received.
"""

from __future__ import annotations

from chainflow.bridge.bar_files.chunks import ParsedChunk
from chainflow.bridge.bar_files.columns import (
    IMPORT_FORMATS,
    SPREAD_UNITS,
    ColumnChoices,
    ImportFormat,
    SpreadUnit,
    parse_spread_unit,
)
from chainflow.bridge.bar_files.reader import (
    DEFAULT_CHUNK_ROWS,
    Warn,
    detect_format,
    iter_chunks,
    options_of_flags,
    read_bar_file,
    warn_ignored_columns,
    warn_on_stderr,
)
from chainflow.bridge.bar_files.timestamps import EPOCH_UNITS, MAX_TZ_OFFSET_HOURS, utc_offset_ms

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "EPOCH_UNITS",
    "IMPORT_FORMATS",
    "MAX_TZ_OFFSET_HOURS",
    "SPREAD_UNITS",
    "ColumnChoices",
    "ImportFormat",
    "ParsedChunk",
    "SpreadUnit",
    "Warn",
    "detect_format",
    "iter_chunks",
    "options_of_flags",
    "parse_spread_unit",
    "read_bar_file",
    "utc_offset_ms",
    "warn_ignored_columns",
    "warn_on_stderr",
]
