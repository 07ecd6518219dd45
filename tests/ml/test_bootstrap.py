"""The circular block bootstrap: exact resample means, p-values that mean what they say,
and intervals that widen when rows overlap (and then cover the truth)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainflow.ml.training.bootstrap import (
    block_length,
    bootstrap_statistic,
    circular_block_means,
)


def brute_force_means(values: np.ndarray, block: int, resamples: int, seed: int) -> np.ndarray:
    """The same resamples built row by row: blocks from the same seeded starts."""
    n = len(values)
    blocks = math.ceil(n / block)
    starts = np.random.default_rng(seed).integers(0, n, size=(resamples, blocks))
    means = []
    for row in starts:
        rows = np.concatenate([(s + np.arange(block)) % n for s in row])[:n]
        means.append(values[rows].mean())
    return np.array(means)


def moving_sum_series(rng: np.random.Generator, n: int, horizon: int) -> np.ndarray:
    """Rows that overlap as labels ``horizon`` bars ahead do: each the sum of the next
    ``horizon`` iid shocks, so neighbours share most of their shocks."""
    shocks = rng.standard_normal(n + horizon - 1)
    return np.convolve(shocks, np.ones(horizon), mode="valid") / math.sqrt(horizon)


class TestCircularBlockMeans:
    @pytest.mark.parametrize(("n", "block"), [(10, 3), (12, 4), (7, 7), (9, 1)])
    def test_equal_to_resampling_row_by_row(self, n: int, block: int) -> None:
        values = np.random.default_rng(1).standard_normal(n)
        fast = circular_block_means(values, block, resamples=50, seed=3)[:, 0]
        np.testing.assert_allclose(fast, brute_force_means(values, block, 50, 3), rtol=1e-12)

    def test_several_series_share_the_resamples(self) -> None:
        values = np.random.default_rng(2).standard_normal(40)
        both = circular_block_means(np.stack([values, 2 * values]), 5, resamples=30, seed=9)
        assert both.shape == (30, 2)
        np.testing.assert_allclose(both[:, 1], 2 * both[:, 0], rtol=1e-12)

    def test_seeded(self) -> None:
        values = np.random.default_rng(4).standard_normal(100)
        first = circular_block_means(values, 10, resamples=200, seed=5)
        np.testing.assert_array_equal(first, circular_block_means(values, 10, 200, seed=5))
        assert not np.array_equal(first, circular_block_means(values, 10, 200, seed=6))

    def test_resample_means_centre_on_the_sample_mean(self) -> None:
        values = np.random.default_rng(5).exponential(size=300)
        means = circular_block_means(values, 12, resamples=20_000, seed=0)[:, 0]
        assert means.mean() == pytest.approx(values.mean(), abs=3 * means.std() / 100)

    @pytest.mark.parametrize(
        ("series", "block", "message"),
        [
            (np.zeros(5), 0, "block"),
            (np.zeros(5), 6, "block"),
            (np.array([0.0, np.nan]), 1, "finite"),
            (np.zeros((0,)), 1, "shape"),
        ],
    )
    def test_bad_arguments(self, series: np.ndarray, block: int, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            circular_block_means(series, block)


class TestBlockLength:
    def test_at_least_the_horizon_and_the_cube_root(self) -> None:
        assert block_length(1000, 12) == 12
        assert block_length(8000, 3) == 20
        assert block_length(5, 12) == 5  # never more than the rows

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError, match="horizon"):
            block_length(10, 0)
        with pytest.raises(ValueError, match="row"):
            block_length(0, 1)


class TestPValue:
    def test_identical_predictions_are_not_better(self) -> None:
        result = bootstrap_statistic(0.0, np.zeros(500), block=5)
        assert result.p_value == 1.0 and result.low == result.high == 0.0

    def test_a_truly_better_model_has_a_small_p_value(self) -> None:
        rng = np.random.default_rng(11)
        differences = 0.05 + moving_sum_series(rng, 2000, 12) * 0.3  # true mean 0.05
        block = block_length(2000, 12)
        resampled = circular_block_means(differences, block, 2000, seed=0)[:, 0]
        result = bootstrap_statistic(float(differences.mean()), resampled, block)
        assert result.p_value < 0.01 and result.low > 0.0

    def test_no_edge_gives_p_values_spread_around_one_half(self) -> None:
        rng = np.random.default_rng(12)
        p_values = []
        for seed in range(60):
            differences = moving_sum_series(rng, 600, 6)  # true mean 0
            resampled = circular_block_means(differences, 9, 400, seed=seed)[:, 0]
            p_values.append(bootstrap_statistic(float(differences.mean()), resampled, 9).p_value)
        assert 0.35 < float(np.mean(p_values)) < 0.65
        assert 0.1 < float(np.mean(np.array(p_values) < 0.5)) < 0.9

    def test_interval_and_p_value_agree(self) -> None:
        rng = np.random.default_rng(13)
        for shift in (-0.2, 0.0, 0.05, 0.1, 0.3):
            values = shift + rng.standard_normal(400)
            resampled = circular_block_means(values, 8, 1000, seed=1)[:, 0]
            result = bootstrap_statistic(float(values.mean()), resampled, 8)
            assert (result.low > 0.0) == (result.p_value < 0.025 + 1e-3)

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError, match="finite"):
            bootstrap_statistic(float("nan"), np.zeros(3), 1)
        with pytest.raises(ValueError, match="resampled"):
            bootstrap_statistic(0.0, np.zeros((2, 2)), 1)


class TestOverlappingRows:
    """Rows that overlap by a horizon of 12: the iid bootstrap (block 1) is too narrow."""

    HORIZON = 12
    ROWS = 1200

    def intervals(self, seed: int, block: int) -> tuple[float, float, float]:
        rng = np.random.default_rng(seed)
        values = 0.1 + moving_sum_series(rng, self.ROWS, self.HORIZON)  # true mean 0.1
        resampled = circular_block_means(values, block, 500, seed=seed)[:, 0]
        result = bootstrap_statistic(float(values.mean()), resampled, block)
        return result.low, result.high, result.high - result.low

    def test_block_interval_is_wider_than_the_iid_one(self) -> None:
        block = block_length(self.ROWS, self.HORIZON)
        widths = [(self.intervals(s, block)[2], self.intervals(s, 1)[2]) for s in range(10)]
        for blocked, iid in widths:
            assert blocked > 2.0 * iid  # sqrt(12) ~ 3.5 in theory

    def test_block_interval_covers_the_true_difference(self) -> None:
        block = block_length(self.ROWS, self.HORIZON)
        covered = iid_covered = 0
        runs = 120
        for seed in range(runs):
            low, high, _ = self.intervals(seed, block)
            covered += low <= 0.1 <= high
            iid_low, iid_high, _ = self.intervals(seed, 1)
            iid_covered += iid_low <= 0.1 <= iid_high
        assert covered / runs >= 0.85  # nominal 0.95; block bootstraps run a little short
        assert iid_covered / runs < 0.6  # the iid interval ignores the overlap
