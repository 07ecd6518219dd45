"""Rank IC, ICIR and hit rate by confidence decile on predictions whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from chainflow.ml.training.quant_metrics import (
    edge_of,
    hit_rate_by_confidence,
    information_coefficients,
    quant_report,
    rank_ic,
)


def probabilities(edge: np.ndarray) -> np.ndarray:
    """Class probabilities (down, flat, up) whose up minus down is ``edge`` (|edge| < 0.5)."""
    up = 0.25 + edge / 2
    down = 0.25 - edge / 2
    return np.stack([down, np.full_like(edge, 0.5), up], axis=1)


class TestRankIc:
    def test_equals_spearman_and_ignores_missing_returns(self) -> None:
        rng = np.random.default_rng(1)
        edge = rng.standard_normal(500)
        realized = 0.3 * edge + rng.standard_normal(500)
        realized[:7] = np.nan
        expected = spearmanr(edge[7:], realized[7:]).statistic
        assert rank_ic(edge, realized) == pytest.approx(expected, rel=1e-12)

    def test_monotone_is_one_and_reversed_is_minus_one(self) -> None:
        edge = np.linspace(-1, 1, 50)
        assert rank_ic(edge, np.exp(edge)) == pytest.approx(1.0)
        assert rank_ic(edge, -(edge**3)) == pytest.approx(-1.0)

    def test_undefined_cases_are_nan(self) -> None:
        assert np.isnan(rank_ic(np.ones(10), np.arange(10.0)))  # a constant edge
        assert np.isnan(rank_ic(np.arange(2.0), np.arange(2.0)))  # too few rows

    def test_edge_is_up_minus_down(self) -> None:
        edge = np.array([-0.4, 0.0, 0.3])
        np.testing.assert_allclose(edge_of(probabilities(edge)), edge)


class TestInformationCoefficients:
    def test_per_fold_and_icir(self) -> None:
        rng = np.random.default_rng(2)
        edge = rng.standard_normal(900)
        realized = 0.5 * edge + rng.standard_normal(900)
        report = information_coefficients(edge, realized, [300, 300, 300])
        folds = [
            spearmanr(edge[i : i + 300], realized[i : i + 300]).statistic for i in (0, 300, 600)
        ]
        np.testing.assert_allclose(report["folds"], folds, rtol=1e-12)
        assert report["mean"] == pytest.approx(np.mean(folds))
        assert report["icir"] == pytest.approx(np.mean(folds) / np.std(folds, ddof=1))
        assert report["pooled"] > 0.3

    def test_one_fold_has_no_icir(self) -> None:
        edge = np.arange(20.0)
        assert np.isnan(information_coefficients(edge, edge, [20])["icir"])

    def test_fold_sizes_must_cover_the_rows(self) -> None:
        with pytest.raises(ValueError, match="adding up to 10"):
            information_coefficients(np.zeros(10), np.zeros(10), [4, 4])


class TestHitRateByConfidence:
    def test_confident_rows_hit_more_when_confidence_means_something(self) -> None:
        rng = np.random.default_rng(3)
        confidence = rng.uniform(0.34, 0.95, 2000)
        rest = (1 - confidence) / 2
        proba = np.stack([rest, rest, confidence], axis=1)  # always predicts up
        y = np.where(rng.random(2000) < confidence, 2, 0).astype(np.int64)  # calibrated
        deciles = hit_rate_by_confidence(y, proba)
        assert [d["decile"] for d in deciles] == list(range(1, 11))
        assert sum(d["rows"] for d in deciles) == 2000
        lows = [d["confidence_low"] for d in deciles]
        assert lows == sorted(lows)
        assert deciles[-1]["hit_rate"] > deciles[0]["hit_rate"] + 0.3
        for d in deciles:  # calibrated: the hit rate is about the decile's confidence
            middle = (d["confidence_low"] + d["confidence_high"]) / 2
            assert d["hit_rate"] == pytest.approx(middle, abs=0.1)

    def test_fewer_rows_than_deciles(self) -> None:
        proba = probabilities(np.array([0.1, -0.2, 0.3]))
        deciles = hit_rate_by_confidence(np.array([2, 0, 1]), proba)
        assert len(deciles) == 3 and sum(d["rows"] for d in deciles) == 3


def test_report_names_what_it_measures() -> None:
    edge = np.linspace(-0.4, 0.4, 40)
    report = quant_report(np.full(40, 2), probabilities(edge), edge, [20, 20])
    assert report["edge"] == "p_up - p_down" and report["rank_ic"]["pooled"] == pytest.approx(1.0)
    assert len(report["hit_rate_by_confidence"]) == 10
