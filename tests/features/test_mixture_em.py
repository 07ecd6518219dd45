"""The compiled 1-D mixture fit against scikit-learn's ``GaussianMixture``."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from chainflow.features.mixture_em import fit_three_components, mean_log_likelihood
from chainflow.features.regime_models import fit_mixture


def _sklearn(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    model = GaussianMixture(3, covariance_type="full", random_state=0).fit(values.reshape(-1, 1))
    order = np.argsort(model.means_[:, 0])
    return (
        model.weights_[order],
        model.means_[order, 0],
        model.covariances_[order, 0, 0],
        float(model.score(values.reshape(-1, 1))),
    )


@pytest.mark.parametrize("seed", range(6))
def test_separated_components_match_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.concatenate(
        [rng.normal(-8.0, 0.25, 700), rng.normal(-7.0, 0.25, 900), rng.normal(-6.0, 0.3, 400)]
    )
    weights, means, variances = fit_three_components(values)
    sk_weights, sk_means, sk_variances, _ = _sklearn(values)
    np.testing.assert_allclose(means, sk_means, atol=0.01)
    np.testing.assert_allclose(weights, sk_weights, atol=0.01)
    np.testing.assert_allclose(variances, sk_variances, rtol=0.05)
    np.testing.assert_allclose(means, [-8.0, -7.0, -6.0], atol=0.05)


@pytest.mark.parametrize("seed", range(6))
def test_likelihood_is_as_good_as_scikit_learn_on_unstructured_data(seed: int) -> None:
    values = np.random.default_rng(100 + seed).normal(-7.0, 0.5, 2000)
    weights, means, variances = fit_three_components(values)
    ours = mean_log_likelihood(values, weights, means, variances)
    assert ours >= _sklearn(values)[3] - 1e-3  # both stop at a likelihood change < 1e-3


def test_components_are_sorted_valid_and_deterministic() -> None:
    values = np.random.default_rng(9).standard_t(3, 1500)
    first = fit_mixture(values)
    assert first is not None and first == fit_mixture(values.copy())
    assert first.means[0] <= first.means[1] <= first.means[2]
    assert abs(sum(first.weights) - 1.0) < 1e-9
    assert all(v > 0 for v in first.variances)


def test_ties_and_too_few_distinct_values() -> None:
    assert fit_mixture(np.array([1.0, 1.0, 2.0, 2.0])) is None
    heavy_ties = np.array([0.0] * 900 + [1.0] * 50 + [2.0] * 50)
    fitted = fit_mixture(heavy_ties)
    assert fitted is not None
    np.testing.assert_allclose(fitted.means, [0.0, 1.0, 2.0], atol=1e-6)
