"""The tuned compiled kernels equal straightforward references exactly (``array_equal``).

The robust scaler (helpers inlined), the DEMA/TEMA chain (levels updated in registers
once seeded) and ROC/MOM (loops over views) were rewritten for speed only: each is held
here to the same bits as a plain Python loop doing the same operations in the same order,
on random data with NaN and infinities, over windows and ``min_periods`` at the edges.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort_left

import numpy as np
import pytest
from numpy.typing import NDArray

from chainflow.features.batch.kernels_averages import ema_chain_kernel
from chainflow.features.batch.kernels_oscillators import MOM, ROC, change_kernel
from chainflow.features.normalize import quantile_sorted, rolling_robust_scale

Array = NDArray[np.float64]


def reference_robust(x: Array, window: int, clip: float, min_periods: int) -> Array:
    """The previous ``window`` finite values in a sorted list; pandas' linear quantiles."""
    out = np.full(x.size, np.nan)
    values: list[float] = []
    ordered: list[float] = []
    for i, val in enumerate(x.tolist()):
        if not math.isfinite(val):
            continue
        if len(ordered) >= min_periods:
            q25 = quantile_sorted(ordered, 0.25)
            iqr = quantile_sorted(ordered, 0.75) - q25
            z = (val - quantile_sorted(ordered, 0.5)) / iqr if iqr > 0.0 else 0.0
            out[i] = min(max(z, -clip), clip)
        if len(values) == window:
            del ordered[bisect_left(ordered, values.pop(0))]
        values.append(val)
        insort_left(ordered, val)
    return out


def reference_ema_chain(x: Array, n: int, depth: int) -> Array:
    """Level ``d`` seeded with the sequential mean of its first ``n`` inputs, then EMA."""
    k = 2.0 / (n + 1)
    level = x.tolist()
    levels = []
    for _ in range(depth):
        ema: list[float] = [math.nan] * len(level)
        first = next((i for i, v in enumerate(level) if not math.isnan(v)), len(level))
        if first + n <= len(level):
            seed = 0.0
            for v in level[first : first + n]:
                seed += v
            e = seed / n
            ema[first + n - 1] = e
            for i in range(first + n, len(level)):
                e = (level[i] - e) * k + e
                ema[i] = e
        levels.append(ema)
        level = ema
    if depth == 2:
        return np.array([2.0 * a - b for a, b in zip(*levels, strict=True)])
    return np.array([3.0 * a - 3.0 * b + c for a, b, c in zip(*levels, strict=True)])


def series(kind: str, size: int, seed: int) -> Array:
    rng = np.random.default_rng(seed)
    if kind == "returns":  # quantized log returns: many ties
        close = np.round(1.1 * np.exp(np.cumsum(rng.standard_normal(size + 1) * 1e-4)), 5)
        x = np.log(close[1:] / close[:-1])
    elif kind == "trend":  # each value above the window: the longest moves
        x = np.arange(size, dtype=np.float64) + rng.standard_normal(size) * 0.1
    else:
        x = rng.standard_normal(size)
    x[rng.random(size) < 0.05] = np.nan
    x[rng.random(size) < 0.005] = -np.inf
    x[size // 3 : size // 3 + 80] = 0.25  # a constant stretch: a zero IQR
    return x


class TestRobustKernel:
    @pytest.mark.parametrize("kind", ["returns", "trend", "normal"])
    @pytest.mark.parametrize(
        ("window", "min_periods"),
        [(500, 200), (65, 65), (64, 1), (17, 16), (3, 2), (2, 2), (1, 1)],
    )
    def test_equals_the_sorted_list_reference_exactly(
        self, kind: str, window: int, min_periods: int
    ) -> None:
        x = series(kind, 3000, seed=window)
        got = rolling_robust_scale(x, window, 3.0, min_periods)
        assert np.array_equal(got, reference_robust(x, window, 3.0, min_periods), equal_nan=True)

    def test_empty_and_all_nan(self) -> None:
        assert rolling_robust_scale(np.empty(0), 5).size == 0
        assert np.isnan(rolling_robust_scale(np.full(10, np.nan), 5, min_periods=1)).all()


class TestEmaChainKernel:
    @pytest.mark.parametrize("depth", [2, 3])
    @pytest.mark.parametrize("n", [2, 3, 30])
    @pytest.mark.parametrize("size", [0, 1, 60, 61, 62, 2000])
    def test_equals_level_by_level_reference(self, depth: int, n: int, size: int) -> None:
        x = 1.1 + np.cumsum(np.random.default_rng(n + size).standard_normal(size)) * 1e-4
        got = ema_chain_kernel(x, n, depth)
        assert np.array_equal(got, reference_ema_chain(x, n, depth), equal_nan=True)


class TestChangeKernel:
    @pytest.mark.parametrize("n", [1, 10, 999, 1000, 1500])
    def test_mom_and_roc_equal_the_plain_loop(self, n: int) -> None:
        rng = np.random.default_rng(n)
        c = rng.standard_normal(1000)
        c[rng.random(c.size) < 0.05] = 0.0
        c[rng.random(c.size) < 0.05] = np.nan
        mom = np.full(c.size, np.nan)
        roc = np.full(c.size, np.nan)
        for i in range(n, c.size):
            mom[i] = c[i] - c[i - n]
            ratio = c[i] / c[i - n] if c[i - n] != 0.0 else 1.0
            roc[i] = (ratio - 1.0) * 100.0
        assert np.array_equal(change_kernel(c, n, MOM), mom, equal_nan=True)
        assert np.array_equal(change_kernel(c, n, ROC), roc, equal_nan=True)
