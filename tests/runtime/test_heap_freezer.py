"""The heap freezer: state built while serving leaves the collector's passes once settled.

Proves: nothing is frozen while a build runs or before the builds settled; a settled wave is
frozen once (what existed is no longer in any generation the collector visits); a new wave
is frozen again; and what is frozen, a features pipeline with its checkpoint and a tick
path key state, is freed by reference counting when dropped (no reference cycle: frozen, it
would otherwise never be collected).
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Iterator

import numpy as np
import pytest

from chainflow.core.market import Timeframe
from chainflow.features.pipeline import SymbolPipeline
from chainflow.features.regimes import RegimeConfig
from chainflow.features.sets import get_feature_set
from chainflow.runtime.heap_freezer import BuildProgress, HeapFreezer
from chainflow.trading.tick.state import KeyState
from tests.fixtures.market_data import make_ohlcv


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test process collects as usual


class Builds:
    """A service's build counters, as the freezer reads them."""

    def __init__(self) -> None:
        self.built = 0
        self.running = 0

    def progress(self) -> BuildProgress:
        return BuildProgress(lambda: self.built, lambda: self.running)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tracked(obj: object) -> bool:
    """Whether ``obj`` is in a generation the collector visits (not the permanent one)."""
    return any(o is obj for o in gc.get_objects())


def test_a_settled_wave_of_builds_is_frozen_once_and_a_new_wave_again() -> None:
    builds, clock = Builds(), Clock()
    freezer = HeapFreezer([builds.progress()], settle_s=2.0, clock=clock)
    assert not freezer.poll()  # nothing built since the start

    state = [[0.5] * 10]  # built by the wave
    builds.built, builds.running = 3, 1
    assert not freezer.poll()  # the count moved
    clock.now += 5.0
    assert not freezer.poll()  # one still running
    builds.running = 0
    builds.built = 4
    assert not freezer.poll()  # the count moved again
    clock.now += 1.0
    assert not freezer.poll()  # not settled for 2 s yet
    assert tracked(state)
    clock.now += 1.5

    assert freezer.poll()
    assert not tracked(state) and gc.get_freeze_count() > 0
    clock.now += 10.0
    assert not freezer.poll()  # nothing new built
    assert freezer.freezes == 1

    later = [[0.25] * 10]
    builds.built = 5
    freezer.poll()
    clock.now += 3.0
    assert freezer.poll() and freezer.freezes == 2
    assert not tracked(later)


def test_what_it_freezes_is_freed_by_reference_counting() -> None:
    data = make_ohlcv(400, seed=5)
    pipeline = SymbolPipeline(get_feature_set("fx-core@1"), Timeframe.M5, RegimeConfig())
    for row in data.bar_rows(lambda i: 0.0001):
        pipeline.update(row)
    checkpoint = pipeline.checkpoint()
    state = KeyState("model-id", Timeframe.M5, pipeline)
    state.closed = deque([np.zeros(33)] * 4, maxlen=4)
    for i in range(20):
        state.atr.update_bar(float(data.high[i]), float(data.low[i]), float(data.close[i]))

    gc.collect()
    gc.disable()
    try:
        del pipeline, checkpoint, state
        assert gc.collect() == 0  # nothing left for the collector: no cycle among them
    finally:
        gc.enable()
