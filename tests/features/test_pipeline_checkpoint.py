"""``SymbolPipeline.checkpoint``/``rollback``: the last bar undone in place, exactly.

The features service redoes its last bar when a late tick revises it (or the bar is
delivered again): it rolls the pipeline back to the checkpoint taken before the bar and
feeds the new one. The result must be the pipeline that never saw the first version, bit
for bit, including across a volatility-mixture refit (a state object that appears between
the checkpoint and the rollback).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from chainflow.core.market import BarRow, Timeframe, bar_row
from chainflow.features import pipeline as pipeline_module
from chainflow.features.api import RegimeConfig, SymbolPipeline
from chainflow.features.errors import FeatureStateMismatchError
from chainflow.features.sets import FX_CORE_V1
from tests.fixtures.market_data import make_ohlcv

M5 = Timeframe("M5")
# Refits every 20 bars once 40 values are in: the run below crosses several refits,
# the first of which turns the mixture from None into a fit.
SMALL_REFITS = RegimeConfig(fit_window=60, min_fit_values=40, refit_every_bars=20)


def series(count: int, seed: int) -> list[BarRow]:
    return make_ohlcv(count, seed=seed).bar_rows(lambda i: 0.0001 + 0.00001 * (i % 7))


def revised(bar: BarRow) -> BarRow:
    """The bar as a late tick would have revised it: a higher high and close."""
    high = bar.high * 1.0004
    return bar_row(bar.ts, bar.open, high, bar.low, high, bar.volume + 3.0, bar.spread)


def state(pipeline: SymbolPipeline) -> str:
    return json.dumps(pipeline.snapshot(), sort_keys=True)


def test_a_rolled_back_bar_leaves_the_pipeline_as_if_it_never_came() -> None:
    bars = series(400, seed=31)
    live = SymbolPipeline(FX_CORE_V1, M5, SMALL_REFITS)
    twin = SymbolPipeline(FX_CORE_V1, M5, SMALL_REFITS)  # never sees a revised bar
    refits_crossed = 0
    for bar in bars:
        mixture_before = live.regimes.mixture
        checkpoint = live.checkpoint()
        live.update(revised(bar))
        refits_crossed += live.regimes.mixture is not mixture_before
        live.rollback(checkpoint)
        live.update(revised(bar))  # the same checkpoint serves a second redo
        live.rollback(checkpoint)
        got = live.update(bar)
        want = twin.update(bar)
        np.testing.assert_array_equal(got.values, want.values)  # bit for bit, NaN included
        assert got.regime == want.regime and got.changes == want.changes
    assert refits_crossed >= 5  # the mixture was replaced (and first created) under a checkpoint
    assert state(live) == state(twin)


def test_a_checkpoint_survives_a_json_restore_of_another_state() -> None:
    bars = series(120, seed=32)
    pipeline = SymbolPipeline(FX_CORE_V1, M5, SMALL_REFITS)
    for bar in bars[:100]:
        pipeline.update(bar)
    pipeline.checkpoint()  # walks the state objects of this pipeline
    restored = SymbolPipeline(FX_CORE_V1, M5, SMALL_REFITS)
    for bar in bars[:110]:
        restored.update(bar)
    pipeline.restore(restored.snapshot())  # replaces nested state objects
    checkpoint = pipeline.checkpoint()  # over the restored objects (walked by the restore)
    pipeline.update(revised(bars[110]))
    pipeline.rollback(checkpoint)
    for bar in bars[110:]:
        pipeline.update(bar)
        restored.update(bar)
    assert state(pipeline) == state(restored)


def test_a_restored_pipeline_is_walked_by_its_restore_not_at_its_first_checkpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every key warmed or rebuilt since a restart takes its first checkpoint at its first
    bar close, and those closes land together (all tenants' M1 to H1 on the hour): the
    walk of the state graph happens when the state is restored, off that second."""
    bars = series(110, seed=34)
    source = SymbolPipeline(FX_CORE_V1, M5, SMALL_REFITS)
    for bar in bars[:100]:
        source.update(bar)
    walks: list[object] = []

    class CountedPlan(pipeline_module.StatePlan):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            walks.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "StatePlan", CountedPlan)
    pipeline = SymbolPipeline(FX_CORE_V1, M5, SMALL_REFITS)
    pipeline.restore(source.snapshot())
    walked = len(walks)
    checkpoint = pipeline.checkpoint()  # the first bar close after the restore
    assert len(walks) == walked and checkpoint.plan is walks[-1]
    pipeline.update(revised(bars[100]))
    pipeline.rollback(checkpoint)  # the plan made by the restore puts the state back
    pipeline.update(bars[100])
    source.update(bars[100])
    assert state(pipeline) == state(source)


def test_a_checkpoint_older_than_the_last_one_is_refused_and_changes_nothing() -> None:
    """The rolling scalers are marked, not copied: only the latest checkpoint can be rolled
    back to. An older one is refused (``feature_state_mismatch``) before anything moves."""
    bars = series(120, seed=33)
    pipeline = SymbolPipeline(FX_CORE_V1, M5, SMALL_REFITS)
    for bar in bars[:100]:
        pipeline.update(bar)
    older = pipeline.checkpoint()
    pipeline.update(bars[100])
    pipeline.checkpoint()
    pipeline.update(bars[101])
    before = state(pipeline)
    with pytest.raises(FeatureStateMismatchError) as refused:
        pipeline.rollback(older)
    assert refused.value.code == "feature_state_mismatch"
    assert state(pipeline) == before
