"""Forming-bar snapshots: rows equal to the live preview, the bar's label, one CV group."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chainflow.cli import app
from chainflow.core.errors import InvalidInput
from chainflow.core.market import BarRow, BarSeries, Timeframe
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_files import SampleFileKind, write_sample_files
from chainflow.demo.sample_market import generate_sample_days
from chainflow.features.api import FeatureEngine, get_feature_set
from chainflow.ml.registry.model_registry import local_model_registry
from chainflow.ml.training.datasets import Dataset, build_dataset
from chainflow.ml.training.forming_snapshots import (
    SubBars,
    aggregate,
    parse_fractions,
    snapshot_fractions,
    with_forming_snapshots,
)
from chainflow.ml.training.labels import LabelSpec
from chainflow.ml.training.run import TrainingConfig, train_on_dataset
from chainflow.ml.training.run_parts import walk_forward_folds
from chainflow.runtime.kernel import Kernel
from tests.fixtures.settings import embedded_settings

FEATURE_SET = get_feature_set("fx-core@1")
M1_MS, M5_MS = 60_000, 300_000
FRACTIONS = (0.25, 0.5, 0.75)


@pytest.fixture(scope="module")
def ticks() -> SubBars:
    """Four days of the sample market's EURUSD ticks (bid, ask, volume)."""
    days = generate_sample_days(SampleMarketConfig(symbols=("EURUSD",), days=4, seed=3))
    symbols = [day.symbols[0] for day in days if len(day.symbols[0])]
    return SubBars.from_ticks(
        ts=np.concatenate([s.ts_ms for s in symbols]),
        bid=np.concatenate([s.bid for s in symbols]),
        ask=np.concatenate([s.ask for s in symbols]),
        volume=np.concatenate([s.volume for s in symbols]),
    )


@pytest.fixture(scope="module")
def m5(ticks: SubBars) -> BarSeries:
    return aggregate(ticks, M5_MS)[0]


@pytest.fixture(scope="module")
def m1(ticks: SubBars) -> SubBars:
    bars, tick_count = aggregate(ticks, M1_MS)
    return SubBars.from_bars(bars, tick_count)


@pytest.fixture(scope="module")
def closed(m5: BarSeries) -> Dataset:
    return build_dataset(m5, FEATURE_SET, LabelSpec(), symbol="EURUSD", timeframe="M5")


@pytest.fixture(scope="module")
def from_m1(closed: Dataset, m5: BarSeries, m1: SubBars) -> Dataset:
    return with_forming_snapshots(closed, m5, m1, FRACTIONS)


def closed_values(bars: BarSeries, t: int) -> BarRow:
    return BarRow(
        int(bars.ts[t]),
        float(bars.open[t]),
        float(bars.high[t]),
        float(bars.low[t]),
        float(bars.close[t]),
        float(bars.volume[t]),
        float(bars.spread[t]),
    )


def live_preview(bars: BarSeries, t: int, partial: BarRow) -> np.ndarray:
    """What the tick path computes: an engine fed the closed bars before ``t``, previewed."""
    engine = FeatureEngine(FEATURE_SET)
    for i in range(t):
        engine.update(closed_values(bars, i))
    return engine.preview(partial)


def rows_of(ds: Dataset, bar: int) -> np.ndarray:
    return np.flatnonzero(ds.bar_index == bar)


class TestSnapshotRows:
    def test_snapshot_row_equals_live_preview_of_the_m1_partial_bar(
        self, from_m1: Dataset, m5: BarSeries, m1: SubBars
    ) -> None:
        bar = int(from_m1.bar_index[len(from_m1) // 2])
        rows = rows_of(from_m1, bar)
        fractions = from_m1.forming_fraction[rows]
        assert fractions.tolist() == [0.25, 0.5, 0.75, 1.0]  # snapshots, then the closed row
        first = int(np.searchsorted(m1.ts, m5.ts[bar]))
        assert m1.ts[first + 4] < m5.ts[bar] + M5_MS <= m1.ts[first + 5]  # 5 M1 bars
        for row, count in zip(rows[:3], (1, 2, 3), strict=True):  # floor(f * 5), at least 1
            part = slice(first, first + count)
            weights = m1.weight[part]
            partial = BarRow(  # the M1 bars aggregated by hand
                int(m5.ts[bar]),
                float(m1.open[first]),
                float(m1.high[part].max()),
                float(m1.low[part].min()),
                float(m1.close[first + count - 1]),
                float(m1.volume[part].sum()),
                float((m1.spread[part] * weights).sum() / weights.sum()),
            )
            expected = live_preview(m5, bar, partial)
            np.testing.assert_allclose(from_m1.X[row], expected, rtol=1e-12, atol=1e-15)
        assert not np.allclose(from_m1.X[rows[0]], from_m1.X[rows[-1]])  # not the closed row

    def test_first_tick_snapshot_equals_live_preview_of_the_first_tick(
        self, closed: Dataset, m5: BarSeries, ticks: SubBars
    ) -> None:
        ds = with_forming_snapshots(closed, m5, ticks, (0.0,))
        snapshot = int(np.flatnonzero(ds.forming_fraction == 0.0)[100])
        bar = int(ds.bar_index[snapshot])
        i = int(np.searchsorted(ticks.ts, m5.ts[bar]))
        bid, spread = float(ticks.close[i]), float(ticks.spread[i])
        first_tick = BarRow(int(m5.ts[bar]), bid, bid, bid, bid, float(ticks.volume[i]), spread)
        np.testing.assert_allclose(
            ds.X[snapshot], live_preview(m5, bar, first_tick), rtol=1e-12, atol=1e-15
        )

    def test_snapshots_carry_the_bars_label_and_closed_rows_are_unchanged(
        self, from_m1: Dataset, closed: Dataset
    ) -> None:
        plain = from_m1.subset(from_m1.closed_rows)
        for name in ("X", "y", "ts", "label_end_ts", "bar_index", "forward_momentum"):
            np.testing.assert_array_equal(getattr(plain, name), getattr(closed, name))
        assert len(from_m1) > 3.5 * len(closed)  # nearly every bar has its 3 snapshots
        index = {int(b): r for r, b in enumerate(closed.bar_index)}
        source = np.array([index[int(b)] for b in from_m1.bar_index])
        for name in ("y", "ts", "label_end_ts", "forward_volatility", "close"):
            np.testing.assert_array_equal(getattr(from_m1, name), getattr(closed, name)[source])
        assert np.all(from_m1.label_end_ts > from_m1.ts)  # the label starts at the bar's close
        assert np.all(np.diff(from_m1.ts) >= 0) and np.isfinite(from_m1.X).all()
        summary = from_m1.describe()
        assert summary["forming_fractions"] == list(FRACTIONS)
        assert summary["closed_rows"] == len(closed) and summary["rows"] == len(from_m1)

    def test_window_of_a_snapshot_is_the_earlier_closed_rows_then_the_snapshot(
        self, from_m1: Dataset
    ) -> None:
        windows, rows = from_m1.window_tensor(4)
        j = int(np.flatnonzero(from_m1.forming_fraction[rows] == 0.5)[50])
        row, bar = int(rows[j]), int(from_m1.bar_index[rows[j]])
        closed = from_m1.closed_rows
        earlier = [closed[from_m1.bar_index[closed] == bar - d][0] for d in (3, 2, 1)]
        np.testing.assert_array_equal(windows[j], from_m1.X[[*earlier, row]])


class TestFolds:
    def test_folds_group_a_bars_rows_and_test_on_closed_rows_only(
        self, from_m1: Dataset, closed: Dataset
    ) -> None:
        config = TrainingConfig(n_folds=3, embargo=5)
        plain = walk_forward_folds(closed, config)
        grouped = walk_forward_folds(from_m1, config)
        for p, g in zip(plain, grouped, strict=True):
            np.testing.assert_array_equal(from_m1.bar_index[g.test], closed.bar_index[p.test])
            assert np.all(from_m1.forming_fraction[g.test] == 1.0)
            train_bars = np.unique(from_m1.bar_index[g.train])
            np.testing.assert_array_equal(train_bars, closed.bar_index[p.train])
            assert len(g.train) > 3 * len(p.train)  # the snapshots of those bars train too
            assert from_m1.label_end_ts[g.train].max() < from_m1.ts[g.test].min()  # purged
            assert not set(train_bars) & set(from_m1.bar_index[g.test].tolist())
            assert g.embargoed == p.embargoed == 5  # an embargo in bars

    def test_training_scores_the_same_out_of_sample_bars(
        self, from_m1: Dataset, closed: Dataset
    ) -> None:
        config = TrainingConfig(n_folds=3, threads=1, resamples=200, importance=False)
        with_snapshots = train_on_dataset(from_m1, config)
        without = train_on_dataset(closed, config)
        assert with_snapshots.predictions is not None and without.predictions is not None
        np.testing.assert_array_equal(
            with_snapshots.predictions.bar_index, without.predictions.bar_index
        )
        assert with_snapshots.evaluation["oos_rows"] == without.evaluation["oos_rows"]
        assert with_snapshots.dataset["forming_fractions"] == list(FRACTIONS)
        assert with_snapshots.folds[0]["train_rows"] > 3 * without.folds[0]["train_rows"]
        assert set(with_snapshots.feature_stats) == set(FEATURE_SET.names)


class TestOptions:
    def test_fractions_parse_sorted_unique_and_refuse_out_of_range(self) -> None:
        assert parse_fractions("0.75, 0.25,0.5,0.25") == FRACTIONS
        assert parse_fractions([0.0]) == (0.0,)
        for bad in ("", "1.0", "-0.1", "a,b"):
            with pytest.raises(InvalidInput, match="forming-snapshots"):
                parse_fractions(bad)

    def test_snapshot_fractions_need_m1_sub_bars(self) -> None:
        assert snapshot_fractions(None, Timeframe.M1, None, None) == ()
        assert snapshot_fractions("0.5", Timeframe.H1, None, "a@b.c") == (0.5,)
        with pytest.raises(InvalidInput, match="above M1"):
            snapshot_fractions("0.5", Timeframe.M1, "m1.csv", None)
        with pytest.raises(InvalidInput, match="forming-data"):
            snapshot_fractions("0.5", Timeframe.H1, None, None)

    def test_a_dataset_with_snapshots_is_not_extended_twice(
        self, from_m1: Dataset, m5: BarSeries, m1: SubBars
    ) -> None:
        with pytest.raises(ValueError, match="snapshots already"):
            with_forming_snapshots(from_m1, m5, m1, FRACTIONS)

    def test_aggregate_closes_like_the_forming_bar_at_its_last_tick(self, ticks: SubBars) -> None:
        bars, counts = aggregate(ticks, M5_MS)
        first = int(np.searchsorted(ticks.ts, bars.ts[10]))
        n = int(counts[10])
        assert ticks.ts[first + n - 1] < bars.ts[10] + M5_MS <= ticks.ts[first + n]
        assert bars.close[10] == ticks.close[first + n - 1]
        assert math.isclose(bars.spread[10], float(ticks.spread[first : first + n].mean()))


def test_cli_trains_with_forming_snapshots_from_an_m1_file(home: Path, tmp_path: Path) -> None:
    market = SampleMarketConfig(symbols=("EURUSD",), days=7)
    for timeframe in (Timeframe.M5, Timeframe.M1):
        write_sample_files(market, tmp_path, kinds=(SampleFileKind.MT5_BARS,), timeframe=timeframe)
    options = ["--symbol", "EURUSD", "--timeframe", "M5", "--folds", "3", "--threads", "1"]
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--data",
            str(tmp_path / "EURUSD_M5.tsv"),
            *options,
            "--forming-snapshots",
            "0.5,0.25",
            "--forming-data",
            str(tmp_path / "EURUSD_M1.tsv"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)

    async def metrics() -> dict:
        kernel = Kernel(embedded_settings(home), services="hub,storage")
        await kernel.start(serving=False)
        try:
            registry = local_model_registry(home, kernel.clock)
            async with kernel.infra.database.unit_of_work(system=True, read_only=True) as uow:
                return (await registry.get(uow, "fx-lightgbm", 1)).metrics
        finally:
            await kernel.stop()

    stored = asyncio.run(metrics())
    assert stored["source"]["forming_snapshots"] == [0.25, 0.5]
    dataset = stored["dataset"]
    assert dataset["forming_fractions"] == [0.25, 0.5]
    assert dataset["rows"] > 2.5 * dataset["closed_rows"]  # two snapshots of nearly every bar
    assert stored["evaluation"]["oos_rows"] < dataset["closed_rows"]  # closed rows scored
    assert report["stage"] == "candidate"

    m5_file = str(tmp_path / "EURUSD_M5.tsv")
    refused = CliRunner().invoke(
        app, ["train", "--data", m5_file, *options, "--forming-snapshots", "0.5"]
    )
    assert refused.exit_code == 1 and "forming-data" in " ".join(refused.output.split())
