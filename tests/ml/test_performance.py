"""Live model quality: hit rate, Brier, calibration, below-baseline, PSI drift."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainflow.ml.training.performance import (
    LivePerformance,
    ScoredPrediction,
    bin_fractions,
    population_stability_index,
    quantile_edges,
)


def scored(p: tuple[float, float, float], realized: int, ts: int = 0) -> ScoredPrediction:
    return ScoredPrediction(ts, p, realized)


class TestLivePerformance:
    def test_hit_rate_brier_and_calibration_by_hand(self) -> None:
        perf = LivePerformance(window=10, min_scored=2, baseline_accuracy=0.4)
        perf.add(scored((0.1, 0.2, 0.7), 2))  # hit, brier 0.01 + 0.04 + 0.09 = 0.14
        perf.add(scored((0.6, 0.3, 0.1), 2))  # miss, brier 0.36 + 0.09 + 0.81 = 1.26

        assert perf.hit_rate() == 0.5
        assert perf.brier() == pytest.approx(0.7)
        bins = perf.calibration()
        assert [(b["low"], b["count"], b["hit_rate"]) for b in bins] == [
            (0.6, 1, 0.0),
            (0.7, 1, 1.0),
        ]
        assert not perf.below_baseline

    def test_below_baseline_only_after_min_scored_and_window_rolls(self) -> None:
        perf = LivePerformance(window=4, min_scored=3, baseline_accuracy=0.5)
        perf.add(scored((0.9, 0.05, 0.05), 2))
        perf.add(scored((0.9, 0.05, 0.05), 2))
        assert not perf.below_baseline  # 2 < min_scored
        perf.add(scored((0.9, 0.05, 0.05), 2))
        assert perf.below_baseline
        for _ in range(4):
            perf.add(scored((0.9, 0.05, 0.05), 0))
        assert perf.count == 4 and perf.hit_rate() == 1.0 and perf.scored_total == 7
        assert not perf.below_baseline
        report = perf.report()
        assert report["hit_rate"] == 1.0 and report["scored"] == 4

    def test_empty_report_has_no_nan(self) -> None:
        report = LivePerformance(baseline_accuracy=0.3).report()
        assert report["hit_rate"] is None and report["brier"] is None

    @pytest.mark.parametrize("kwargs", [{"window": 0}, {"baseline_accuracy": 1.5}])
    def test_bad_settings_are_refused(self, kwargs: dict[str, float]) -> None:
        with pytest.raises(ValueError, match="expected"):
            LivePerformance(**{"baseline_accuracy": 0.4, **kwargs})  # type: ignore[arg-type]


class TestPopulationStabilityIndex:
    def test_same_distribution_is_stable_and_a_shift_is_not(self) -> None:
        rng = np.random.default_rng(3)
        train = rng.normal(size=20_000)
        edges = quantile_edges(train, 10)
        fractions = bin_fractions(edges, train)

        same = population_stability_index(edges, fractions, rng.normal(size=5000))
        shifted = population_stability_index(edges, fractions, rng.normal(0.8, 1.0, size=5000))

        assert len(edges) == 9 and sum(fractions) == pytest.approx(1.0)
        assert same < 0.02
        assert shifted > 0.25

    def test_psi_by_hand(self) -> None:
        # one edge at 0: training 50/50, live 80/20
        psi = population_stability_index([0.0], [0.5, 0.5], [-1, -1, -1, -1, 1])
        assert psi == pytest.approx(
            (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
        )

    def test_mismatched_fractions_raise(self) -> None:
        with pytest.raises(ValueError, match="expected 2 training fractions"):
            population_stability_index([0.0], [1.0], [1.0])
        assert math.isnan(population_stability_index([0.0], [0.5, 0.5], [math.nan]))
