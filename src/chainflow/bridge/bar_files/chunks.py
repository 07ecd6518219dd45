"""A file's rows in chunks: MT5 ticks to ``Tick``, bar rows to ``AggregatedBar``.

Memory stays bounded by one chunk. In tick exports MT5 leaves BID or ASK empty on rows where
only the other side changed: the last known value is carried forward. Rows with neither side
known yet (a LAST-only trade, or a one-sided row before the first full quote) carry no quote
and are counted in ``rows_without_quote``. An empty VOLUME is 0. LAST and FLAGS are ignored.
A crossed quote (ASK < BID) is an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from chainflow.bridge.bar_files.bar_rows import number, price
from chainflow.bridge.bar_files.columns import TickColumns
from chainflow.bridge.bar_files.source import LineSource
from chainflow.bridge.bar_files.timestamps import Mt5Times
from chainflow.bridge.bars import AggregatedBar
from chainflow.core.market import Tick


@dataclass(slots=True)
class ParsedChunk:
    """Up to ``chunk_rows`` parsed rows, with counters for the file so far."""

    rows: list[Tick] | list[AggregatedBar]
    lines_read: int
    bytes_read: int
    rows_without_quote: int = 0


def tick_chunks(
    source: LineSource, cols: TickColumns, symbol: str, tz_offset_ms: int, chunk_rows: int
) -> Iterator[ParsedChunk]:
    """Yield the ticks of an MT5 tick export in chunks of up to ``chunk_rows``."""
    times = Mt5Times(source.fail, tz_offset_ms)
    bid = ask = math.nan
    ticks: list[Tick] = []
    lines = without_quote = 0
    for row in source.rows():
        lines += 1
        if len(row) != cols.count:
            raise source.fail(f"{cols.count} fields like the header", f"{len(row)} fields")
        ts = times.ms(row[cols.date], row[cols.clock])
        bid_text, ask_text = row[cols.bid], row[cols.ask]
        if bid_text:
            bid = price(source, bid_text, "<BID>")
        if ask_text:
            ask = price(source, ask_text, "<ASK>")
        if (not bid_text and not ask_text) or math.isnan(bid) or math.isnan(ask):
            without_quote += 1
            continue
        if ask < bid:
            raise source.fail("<ASK> >= <BID>", f"bid {bid}, ask {ask}")
        volume = 0.0 if cols.volume is None else number(source, row[cols.volume], "<VOLUME>")
        ticks.append(Tick(symbol, ts, bid, ask, volume))
        if len(ticks) >= chunk_rows:
            yield ParsedChunk(ticks, lines, source.bytes_read, without_quote)
            ticks = []
    yield ParsedChunk(ticks, lines, source.bytes_read, without_quote)


def bar_chunks(
    source: LineSource, read: Callable[[list[str]], AggregatedBar], chunk_rows: int
) -> Iterator[ParsedChunk]:
    """Yield the bars ``read`` makes of each row, in chunks of up to ``chunk_rows``."""
    bars: list[AggregatedBar] = []
    lines = 0
    for row in source.rows():
        lines += 1
        bars.append(read(row))
        if len(bars) >= chunk_rows:
            yield ParsedChunk(bars, lines, source.bytes_read)
            bars = []
    yield ParsedChunk(bars, lines, source.bytes_read)
