"""The market ``chainflow demo`` and the tick→signal benchmark play: history bars + live ticks.

A deterministic sample market (``chainflow.demo.sample_market``) is cut at
``REPLAY_START_HOUR`` UTC of its last day, the busy London/New York overlap. Everything
before the cut becomes stored bars, so that the features of every symbol are warm (the
feature set needs a few hundred bars) when the first live tick arrives; the ticks after the
cut are replayed through ``WS /ws/ticks``. Both are shifted by a whole number of
``shift_step_ms`` so that the replayed ticks end before now, within one step (the server
refuses ticks older than the tenant's retention window), and every bar of
``HISTORY_TIMEFRAMES`` stays aligned to its bucket. The default step, an hour, ends the
ticks just before now but puts them at the hour of the day it is now; ``chainflow demo``
shifts by whole weeks (``WEEK_MS``), which keeps the sample's weekday and hour — the
overlap, outside the execution plan's thin-liquidity and rollover windows — whenever it
runs.

``alias`` plays one known symbol's series under other names (the benchmark's 50 clients
each stream their own symbol).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from chainflow.bridge.api import AggregatedBar
from chainflow.core.errors import InvalidInput
from chainflow.core.market import Tick, Timeframe
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_market import SymbolTicks, generate_sample_days

REPLAY_START_HOUR = 13
HISTORY_DAYS = 2
HISTORY_TIMEFRAMES = (Timeframe.M1, Timeframe.M5)
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# A Monday: two weekdays of history before the replayed Wednesday afternoon.
DEMO_START = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DemoMarket:
    """Shifted history bars (per timeframe) and the ticks to replay, merged by time."""

    symbols: tuple[str, ...]
    bars: tuple[AggregatedBar, ...]
    ticks: tuple[Tick, ...]
    offset_ms: int


def build_demo_market(
    symbols: Sequence[str],
    *,
    now_ms: int,
    minutes: float | None = 30.0,
    max_ticks: int | None = None,
    seed: int = 7,
    alias: Mapping[str, str] | None = None,
    timeframes: Sequence[Timeframe] = HISTORY_TIMEFRAMES,
    shift_step_ms: int = HOUR_MS,
) -> DemoMarket:
    """Return the demo market of ``symbols``: warm-up bars and up to ``max_ticks`` live ticks.

    ``minutes`` bounds the replayed market time (``None``: the rest of the day); ``alias``
    maps an output symbol to the known sample symbol whose series it plays. The market is
    shifted by a whole number of ``shift_step_ms`` (a multiple of an hour): ``WEEK_MS``
    keeps the sample's weekday and time of day, so what depends on the hour (sessions,
    thin-liquidity and rollover windows) is the same whenever it runs.
    """
    if shift_step_ms <= 0 or shift_step_ms % HOUR_MS:
        raise InvalidInput(
            f"expected shift_step_ms a multiple of {HOUR_MS}; received {shift_step_ms}"
        )
    if minutes is not None and minutes <= 0:
        raise InvalidInput(f"expected minutes > 0; received {minutes}")
    if max_ticks is not None and max_ticks < 1:
        raise InvalidInput(f"expected max_ticks >= 1; received {max_ticks}")
    names = tuple(s.strip().upper() for s in symbols)
    sources = {name: (alias or {}).get(name, name).upper() for name in names}
    config = SampleMarketConfig(
        symbols=tuple(dict.fromkeys(sources.values())),
        start=DEMO_START,
        days=HISTORY_DAYS + 1,
        seed=seed,
    )
    days = list(generate_sample_days(config))
    cut_ms = days[-1].start_ms + REPLAY_START_HOUR * HOUR_MS
    end_ms = (
        cut_ms + int(minutes * 60_000) if minutes is not None else days[-1].start_ms + 86_400_000
    )
    by_source: dict[str, list[SymbolTicks]] = {}
    for day in days:
        for ticks in day.symbols:
            by_source.setdefault(ticks.symbol, []).append(ticks)
    bars: list[AggregatedBar] = []
    live: list[Tick] = []
    for name in names:
        series = _concat(by_source[sources[name]])
        history = _slice(series, series.ts_ms < cut_ms)
        for timeframe in timeframes:
            bars.extend(replace(b, symbol=name) for b in aggregate_spread_bars(history, timeframe))
        window = _slice(series, (series.ts_ms >= cut_ms) & (series.ts_ms < end_ms))
        live.extend(Tick(name, t.ts, t.bid, t.ask, t.volume) for t in window.to_ticks())
    live.sort(key=lambda t: t.ts)  # stable: ties keep the symbol order
    if max_ticks is not None:
        live = live[:max_ticks]
    last_ts = live[-1].ts if live else cut_ms
    offset_ms = (now_ms - 1_000 - last_ts) // shift_step_ms * shift_step_ms
    return DemoMarket(
        symbols=names,
        bars=tuple(
            replace(
                b,
                ts=b.ts + offset_ms,
                first_tick_ts=b.first_tick_ts + offset_ms,
                last_tick_ts=b.last_tick_ts + offset_ms,
            )
            for b in bars
        ),
        ticks=tuple(replace(t, ts=t.ts + offset_ms) for t in live),
        offset_ms=offset_ms,
    )


def aggregate_spread_bars(ticks: SymbolTicks, timeframe: Timeframe) -> list[AggregatedBar]:
    """Return bid OHLCV bars of ``ticks`` with the spread statistics the bridge keeps."""
    ts = ticks.ts_ms
    if len(ts) == 0:
        return []
    bucket = ts - ts % timeframe.milliseconds
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(ts)] - 1
    bid, ask = ticks.bid, ticks.ask
    spread = ask - bid
    volume = ticks.volume.astype(np.float64)
    columns = zip(
        bucket[starts].tolist(),
        bid[starts].tolist(),
        np.maximum.reduceat(bid, starts).tolist(),
        np.minimum.reduceat(bid, starts).tolist(),
        bid[ends].tolist(),
        np.add.reduceat(volume, starts).tolist(),
        (ends - starts + 1).tolist(),
        np.minimum.reduceat(spread, starts).tolist(),
        np.maximum.reduceat(spread, starts).tolist(),
        np.add.reduceat(spread, starts).tolist(),
        ts[starts].tolist(),
        ts[ends].tolist(),
        strict=True,
    )
    return [AggregatedBar(ticks.symbol, timeframe, *row[:6], *row[6:]) for row in columns]


def _concat(parts: list[SymbolTicks]) -> SymbolTicks:
    first = parts[0]
    return SymbolTicks(
        symbol=first.symbol,
        digits=first.digits,
        ts_ms=np.concatenate([p.ts_ms for p in parts]),
        bid_points=np.concatenate([p.bid_points for p in parts]),
        ask_points=np.concatenate([p.ask_points for p in parts]),
        volume=np.concatenate([p.volume for p in parts]),
        regime=np.concatenate([p.regime for p in parts]),
    )


def _slice(ticks: SymbolTicks, mask: np.ndarray) -> SymbolTicks:
    return SymbolTicks(
        symbol=ticks.symbol,
        digits=ticks.digits,
        ts_ms=ticks.ts_ms[mask],
        bid_points=ticks.bid_points[mask],
        ask_points=ticks.ask_points[mask],
        volume=ticks.volume[mask],
        regime=ticks.regime[mask],
    )


def describe_window(market: DemoMarket) -> str:
    """Return e.g. ``'2026-11-24 22:00-22:29 UTC (29 min of market time)'``."""
    if not market.ticks:
        return "no ticks"
    first = datetime.fromtimestamp(market.ticks[0].ts / 1000, UTC)
    last = datetime.fromtimestamp(market.ticks[-1].ts / 1000, UTC)
    minutes = (last - first) // timedelta(minutes=1)
    return f"{first:%Y-%m-%d %H:%M}-{last:%H:%M} UTC ({minutes} min of market time)"
