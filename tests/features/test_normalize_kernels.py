"""The compiled batch scalers equal pandas' rolling statistics they replaced.

The reference is the former implementation: pandas' rolling ``mean``/``std(ddof=0)`` and
``quantile(q, interpolation="linear")`` over the finite values, shifted by one, clipped,
0 where the scale is 0, NaN where the input is not finite. Expected: identical values
(the kernels repeat pandas' operations in order), held here to 1e-12 relative.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from chainflow.features.normalize import rolling_robust_scale, rolling_zscore_scale

Array = NDArray[np.float64]


def pandas_zscore(x: Array, window: int, clip: float, min_periods: int) -> Array:
    finite = np.isfinite(x)
    series = pd.Series(x[finite])
    rolling = series.rolling(window, min_periods=min_periods)
    mean = rolling.mean().shift(1).to_numpy()
    std = rolling.std(ddof=0).shift(1).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.clip((series.to_numpy() - mean) / std, -clip, clip)
    z[std == 0.0] = 0.0
    out = np.full(x.shape, np.nan)
    out[finite] = z
    return out


def pandas_robust(x: Array, window: int, clip: float, min_periods: int) -> Array:
    finite = np.isfinite(x)
    series = pd.Series(x[finite])
    rolling = series.rolling(window, min_periods=min_periods)
    q25, median, q75 = (
        rolling.quantile(q, interpolation="linear").shift(1).to_numpy() for q in (0.25, 0.5, 0.75)
    )
    iqr = q75 - q25
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.clip((series.to_numpy() - median) / iqr, -clip, clip)
    z[iqr == 0.0] = 0.0
    out = np.full(x.shape, np.nan)
    out[finite] = z
    return out


def random_series(kind: str, size: int, seed: int) -> Array:
    rng = np.random.default_rng(seed)
    if kind == "returns":  # quantized log returns of 5-decimal prices: many ties
        close = np.round(1.1 * np.exp(np.cumsum(rng.standard_normal(size + 1) * 1e-4)), 5)
        x = np.log(close[1:] / close[:-1])
    elif kind == "offset":  # a large offset over a small spread
        x = 1e4 + rng.standard_t(3, size)
    else:
        x = rng.standard_normal(size) * 1e-4
    x[rng.random(size) < 0.05] = np.nan
    x[rng.random(size) < 0.005] = np.inf
    x[size // 3 : size // 3 + 250] = x[size // 3 - 1] if np.isfinite(x[size // 3 - 1]) else 0.5
    return x


PAIRS: list[tuple[Callable[..., Array], Callable[..., Array]]] = [
    (rolling_zscore_scale, pandas_zscore),
    (rolling_robust_scale, pandas_robust),
]


class TestScalersAgainstPandas:
    @pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=["zscore", "robust"])
    @pytest.mark.parametrize("kind", ["returns", "offset", "normal"])
    @pytest.mark.parametrize(
        ("window", "min_periods"),
        [(500, 200), (100, 100), (64, 64), (37, 1), (16, 3), (1, 1), (2, 1)],
    )
    def test_random_data_with_nan_equals_pandas(
        self,
        ours: Callable[..., Array],
        theirs: Callable[..., Array],
        kind: str,
        window: int,
        min_periods: int,
    ) -> None:
        x = random_series(kind, 6000, seed=window + min_periods)
        got = ours(x, window, 4.0, min_periods)
        expected = theirs(x, window, 4.0, min_periods)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        ok = ~np.isnan(expected)
        assert ok.sum() > 4000
        np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-12, atol=1e-12)

    @pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=["zscore", "robust"])
    def test_short_and_empty_inputs(
        self, ours: Callable[..., Array], theirs: Callable[..., Array]
    ) -> None:
        for x in (np.empty(0), np.array([np.nan, 1.0, np.inf, 2.0, 3.0])):
            np.testing.assert_array_equal(ours(x, 3, 5.0, 2), theirs(x, 3, 5.0, 2))
