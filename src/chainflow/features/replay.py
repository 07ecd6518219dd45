"""A pipeline rebuilt from stored bars, the replay run in the process lane.

``replayed`` sends the bars as one NumPy array to a worker process (``core.process_lane``),
which feeds them to a fresh ``SymbolPipeline`` and returns its snapshot; the serving
process restores that snapshot into its own pipeline (milliseconds, against hundreds of
milliseconds of replay). The restored pipeline continues exactly like one that replayed the
bars itself (``tests/features/test_replay.py``). A stored bar the pipeline refuses is
skipped and counted, as it was live.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainflow.core.market import OHLCV, BarRow, Timeframe
from chainflow.core.process_lane import BACKGROUND, run_in_process
from chainflow.features.mixture_em import compile_kernels
from chainflow.features.pipeline import SymbolPipeline
from chainflow.features.regimes import RegimeConfig
from chainflow.features.sets import FeatureSet, get_feature_set

COLUMNS = 7  # ts, open, high, low, close, volume, spread (NaN: unknown)


@dataclass(frozen=True, slots=True)
class Replayed:
    """A pipeline after the replay, the bars it refused, and its last output vectors."""

    pipeline: SymbolPipeline
    refused: int
    tail: list[np.ndarray]


def bar_columns(bars: Sequence[OHLCV]) -> np.ndarray:
    """Return ``bars`` as an ``(n, 7)`` float64 array (epoch-ms times are exact in float64)."""
    columns = np.empty((len(bars), COLUMNS), dtype=np.float64)
    for row, bar in enumerate(bars):
        columns[row] = (bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.spread)
    return columns


def stored_bar_columns(stored: Mapping[str, np.ndarray]) -> np.ndarray:
    """Return stored bars (``bridge.api.read_latest_bar_columns``) as the ``(n, 7)`` array;
    a bar's spread is its ticks' mean spread, NaN for a bar without ticks."""
    ticks = stored["tick_count"].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.where(ticks > 0, stored["spread_sum"] / ticks, np.nan)
    names = ("ts", "open", "high", "low", "close", "volume")
    return np.column_stack([*(stored[name].astype(np.float64) for name in names), spread])


def bar_of(row: np.ndarray) -> BarRow:
    """Return one row of the ``(n, 7)`` array as the engine's input."""
    ts, open_, high, low, close, volume, spread = row.tolist()
    return BarRow(int(ts), open_, high, low, close, volume, spread)


def _bars_of(columns: np.ndarray) -> list[BarRow]:
    return [
        BarRow(int(ts), float(o), float(h), float(lo), float(c), float(v), float(s))
        for ts, o, h, lo, c, v, s in columns.tolist()
    ]


def prepare_worker() -> None:
    """In a worker, before its first replay: this module's imports, and the regime refits'
    compiled kernels (``core.process_lane.prepare``)."""
    compile_kernels()


def replay_snapshot(
    feature_set_key: str,
    timeframe: str,
    regime_config: RegimeConfig | None,
    columns: np.ndarray,
    keep: int,
) -> tuple[dict[str, Any], int, list[np.ndarray]]:
    """Replay ``columns`` through a new pipeline; return its snapshot, the bars refused and
    the last ``keep`` output vectors. Runs in the worker process (module-level, pickles)."""
    pipeline = SymbolPipeline(get_feature_set(feature_set_key), Timeframe(timeframe), regime_config)
    refused = 0
    tail: deque[np.ndarray] = deque(maxlen=keep)
    for bar in _bars_of(columns):
        try:
            output = pipeline.update(bar)
        except ValueError:
            refused += 1  # a bad stored bar is skipped, as it was live
            continue
        if keep:
            tail.append(output.values)
    return pipeline.snapshot(), refused, list(tail)


async def replayed(
    feature_set: FeatureSet,
    timeframe: Timeframe,
    regime_config: RegimeConfig | None,
    bars: np.ndarray,
    *,
    keep: int = 0,
    priority: int = BACKGROUND,
) -> Replayed:
    """Return a pipeline of ``feature_set`` in ``timeframe`` that has seen ``bars`` (the
    ``(n, 7)`` array: ``bar_columns``, ``stored_bar_columns``)."""
    snapshot, refused, tail = await run_in_process(
        replay_snapshot,
        feature_set.key,
        timeframe.value,
        regime_config,
        bars,
        keep,
        priority=priority,
    )
    pipeline = SymbolPipeline(feature_set, timeframe, regime_config)
    pipeline.restore(snapshot)
    return Replayed(pipeline, refused, tail)
