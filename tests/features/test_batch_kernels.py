"""Compiled batch indicators against the NumPy code they replaced (commit 95a48d9).

Three rules, per output:

- Recursions and exact operations (EMA family, MACD, ADX/DI, Keltner's middle, OBV, ROC,
  MOM, WILLR, STOCH and windows of up to 11 values, extremes, VWAP) are bit-for-bit: their
  SHA-256 is the one in ``data/batch_golden.json`` (NaN hashed as one NaN, ``-0.0`` as
  ``0.0``), which the old code gave.
- Wilder's smoothing (ATR, RSI, and Keltner's bands, which add the ATR) was TA-Lib's
  ``avg = (avg * (n - 1) + x) / n``, a division in the recursion that bounded the speed
  (each bar waited for the previous division). The kernels compute
  ``avg * ((n - 1) / n) + x * (1 / n)`` with one fused multiply-add: the same quantity,
  rounded differently. The judges of "unchanged results" are the TA-Lib parity and
  streaming-vs-batch tests (1e-9, unedited); here each value equals the old recursion
  (``_legacy_atr``/``_legacy_rsi``, the old operations in plain Python, whose hashes are
  the golden ones) to ``1e-12`` relative.
- Window sums of more than 11 values (SMA, WMA, Bollinger, z-score, realized volatility,
  CCI, STOCH's long smoothings) came from NumPy's pairwise and OpenBLAS's CPU-specific
  summation orders, which no portable code repeats. They equal the old expressions
  (``legacy_*`` below, the old code's formulas evaluated by this machine's NumPy) to
  ``1e-12`` in the units of their inputs: relative for sums and means; for z-scores,
  %B and CCI, whose value divides a difference of prices by a spread, ``1e-12`` times the
  input's magnitude over that spread. A window of identical values has a std of exactly 0
  (z-score 0, %B NaN, bandwidth 0), as in the streaming twins, where the old code left
  the rounding residue of its mean.

The series are seeded and cover rounded prices (ties, flat windows), unrounded prices,
flat stretches and periods from 1 to 130.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from chainflow.features import batch
from chainflow.features.batch.kernels_extremes import (
    RAW_K,
    WILLR,
    range_position_kernel,
    rolling_extreme,
)

GOLDEN = Path(__file__).parent / "data" / "batch_golden.json"
SIZE = 4000
TOL = 1e-12
Series = dict[str, NDArray[np.float64]]
Array = NDArray[np.float64]
KINDS = ("rounded", "raw", "flat")
SUMMED = ("sma", "wma", "cci", "bbands", "percent_b", "bandwidth", "zscore")
SUMMED_TOO = ("rv_close_to_close", "rv_parkinson", "rv_gk", "volume_zscore", "stoch_21_16_12")


def make_series(kind: str, size: int = SIZE, seed: int = 11) -> Series:
    """Seeded OHLCV bars: ``rounded`` (5 decimals), ``raw`` or ``flat`` (flat stretches)."""
    rng = np.random.default_rng(seed)
    # A product of IEEE multiplications, not ``exp``: NumPy's SIMD ``exp`` differs in the
    # last bit between CPUs (AVX-512 or not), and the digests below must not.
    close = 1.1 * np.cumprod(1.0 + rng.standard_normal(size) * 2e-4)
    if kind == "flat":
        close[size // 4 : size // 2] = close[size // 4]
    open_ = np.concatenate([[close[0]], close[:-1]])
    wicks = np.abs(rng.standard_normal((2, size))) * 2e-4 * close
    high = np.maximum(open_, close) + wicks[0]
    low = np.minimum(open_, close) - wicks[1]
    if kind == "flat":
        flat = slice(size // 4 + 1, size // 2)
        high[flat] = low[flat] = open_[flat] = close[flat]
    volume = np.round(rng.lognormal(6.0, 0.6, size))
    series = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    if kind != "raw":
        series = {k: np.round(v, 5) for k, v in series.items()}
    series["ts"] = 1_700_000_000_000 + np.arange(size, dtype=np.float64) * 300_000
    return series


def indicator_outputs(b: object, s: Series) -> Iterator[tuple[str, NDArray[np.float64]]]:
    """Every public batch indicator of module ``b`` on ``s``, over several periods."""
    o, h, lo, c, v, ts = s["open"], s["high"], s["low"], s["close"], s["volume"], s["ts"]
    calls: dict[str, Callable[[], object]] = {}
    for n in (2, 5, 11, 12, 14, 16, 20, 30, 33, 50, 130):
        for name in ("sma", "ema", "wma", "dema", "tema", "rsi"):
            calls[f"{name}_{n}"] = lambda name=name, n=n: getattr(b, name)(c, n)
        for name in ("cci", "willr", "adx", "plus_di", "minus_di", "atr", "keltner"):
            calls[f"{name}_{n}"] = lambda name=name, n=n: getattr(b, name)(h, lo, c, n)
        for name in ("bbands", "percent_b", "bandwidth", "zscore", "rv_close_to_close"):
            calls[f"{name}_{n}"] = lambda name=name, n=n: getattr(b, name)(c, n)
        calls[f"donchian_{n}"] = lambda n=n: b.donchian(h, lo, n)  # type: ignore[attr-defined]
        calls[f"rv_parkinson_{n}"] = lambda n=n: b.rv_parkinson(h, lo, n)  # type: ignore[attr-defined]
        calls[f"rv_gk_{n}"] = lambda n=n: b.rv_garman_klass(o, h, lo, c, n)  # type: ignore[attr-defined]
        calls[f"volume_zscore_{n}"] = lambda n=n: b.zscore(v, n)  # type: ignore[attr-defined]
        calls[f"roc_{n}"] = lambda n=n: b.roc(c, n)  # type: ignore[attr-defined]
        calls[f"mom_{n}"] = lambda n=n: b.mom(c, n)  # type: ignore[attr-defined]
    for fast, slow, sig in ((12, 26, 9), (8, 5, 1), (3, 40, 20)):
        calls[f"macd_{fast}_{slow}_{sig}"] = lambda a=(fast, slow, sig): b.macd(c, *a)  # type: ignore[attr-defined]
    for args in ((5, 3, 3), (14, 1, 4), (1, 1, 1), (21, 16, 12)):
        calls["stoch_{}_{}_{}".format(*args)] = lambda a=args: b.stoch(h, lo, c, *a)  # type: ignore[attr-defined]
    calls["trange"] = lambda: b.trange(h, lo, c)  # type: ignore[attr-defined]
    calls["atr_1"] = lambda: b.atr(h, lo, c, 1)  # type: ignore[attr-defined]
    calls["obv"] = lambda: b.obv(c, v)  # type: ignore[attr-defined]
    calls["vwap"] = lambda: b.vwap(h, lo, c, v, ts.astype(np.int64), 7)  # type: ignore[attr-defined]
    for key, call in calls.items():
        result = call()
        parts = result if isinstance(result, tuple) else (result,)
        for j, part in enumerate(parts):
            yield f"{key}#{j}", np.asarray(part, dtype=np.float64)


def digest(values: Array) -> str:
    """SHA-256 of the values, one NaN for all NaN and ``0.0`` for ``-0.0``."""
    canonical = np.where(np.isnan(values), np.nan, values) + 0.0
    return hashlib.sha256(np.ascontiguousarray(canonical).tobytes()).hexdigest()


def is_summed(key: str) -> bool:
    """Whether the old output of ``key`` came from a window sum of more than 11 values."""
    name, n = split(key)
    if name in ("rv_close_to_close", "rv_parkinson", "rv_gk", "volume_zscore"):
        return True
    if name in ("sma", "wma"):
        return int(n) > 11
    return name in ("cci", "bbands", "percent_b", "bandwidth", "zscore") or key.startswith(
        "stoch_21_16_12"
    )


def split(key: str) -> tuple[str, str]:
    name, _, n = key.partition("#")[0].rpartition("_")
    return name, n


def is_wilder(key: str) -> bool:
    """Whether ``key`` holds a Wilder smoothing (ATR, RSI, Keltner's bands)."""
    name, n = split(key)
    part = key.partition("#")[2]
    if name == "keltner":
        return part in ("0", "2")
    return name in ("atr", "rsi") and n != "1"  # ATR(1) is the true range


def _legacy_atr(h: Array, lo: Array, c: Array, n: int) -> Array:
    """The old ATR recursion, operation for operation (a division per bar)."""
    out = np.full(c.size, np.nan)
    tr = [max(h[i], c[i - 1]) - min(lo[i], c[i - 1]) for i in range(1, c.size)]
    total = 0.0
    for i in range(1, n + 1):
        total += tr[i - 1]
    prev = total / n
    out[n] = prev
    for i in range(n + 1, c.size):
        prev = (prev * (n - 1) + tr[i - 1]) / n
        out[i] = prev
    return out


def _legacy_rsi(c: Array, n: int) -> Array:
    """The old RSI recursion, operation for operation."""
    out = np.full(c.size, np.nan)
    gain = loss = 0.0
    for i in range(1, c.size):
        d = float(c[i] - c[i - 1])
        if i > n:
            gain *= n - 1
            loss *= n - 1
        if d < 0:
            loss -= d
        else:
            gain += d
        if i >= n:
            gain /= n
            loss /= n
            total = gain + loss
            out[i] = 100.0 * (gain / total) if total != 0.0 else 0.0
    return out


def legacy_wilder(key: str, s: Series) -> Array:
    """The old code's output for a Wilder ``key`` (see ``is_wilder``)."""
    name, n = split(key)
    h, lo, c = s["high"], s["low"], s["close"]
    if name == "rsi":
        return _legacy_rsi(c, int(n))
    atr = _legacy_atr(h, lo, c, int(n))
    if name == "atr":
        return atr
    middle = batch.keltner(h, lo, c, int(n))[1]
    return middle + 2.0 * atr if key.endswith("#0") else middle - 2.0 * atr


def _pad(values: Array, size: int) -> Array:
    out = np.full(size, np.nan)
    out[size - values.size :] = values
    return out


def _windows(x: Array, n: int) -> Array:
    return sliding_window_view(x, n)


def _moments(x: Array, n: int) -> tuple[Array, Array]:
    """The old two-pass window mean and population std."""
    w = _windows(x, n)
    mean = w.mean(axis=1)
    return _pad(mean, x.size), _pad(np.sqrt(((w - mean[:, None]) ** 2).mean(axis=1)), x.size)


def _mean(x: Array, n: int) -> Array:
    return _pad(_windows(x, n).mean(axis=1), x.size)


def _convolve(x: Array, w: Array) -> Array:
    return _pad(np.convolve(x, w[::-1], "valid") / w.sum(), x.size)


def legacy(key: str, s: Series) -> tuple[Array, Array]:
    """The old code's output for a summed ``key`` by its formulas, and the magnitude of the
    output's rounding (the input's over the spread it divides by, or the output's)."""
    name, n = split(key)
    part = int(key.partition("#")[2])
    h, lo, c = s["high"], s["low"], s["close"]
    with np.errstate(divide="ignore", invalid="ignore"):
        if key.startswith("stoch"):
            return _legacy_stoch(h, lo, c, part)
        p = int(n)
        if name in ("sma", "wma"):
            weights = np.ones(p) if name == "sma" else np.arange(1.0, p + 1.0)
            return _plain(_convolve(c, weights))
        if name.startswith("rv"):
            return _plain(_legacy_rv(name, s, p))
        if name == "cci":
            tp = (h + lo + c) / 3.0
            mean = _pad(_windows(tp, p).sum(axis=1), tp.size) / p
            dev = _pad(np.abs(_windows(tp, p) - mean[p - 1 :, None]).sum(axis=1), tp.size) / p
            band = 1e-14 * np.abs(mean)  # the old flat-window band
            ok = (np.abs(tp - mean) > band) & (dev > band)
            value = np.where(ok, (tp - mean) / (0.015 * dev), 0.0)
            value[np.isnan(dev)] = np.nan
            return value, np.max(np.abs(tp)) / (0.015 * dev)
        x = s["volume"] if name == "volume_zscore" else c
        mean, std = _moments(x, p)
        upper, lower = mean + 2.0 * std, mean - 2.0 * std
        width = upper - lower
        unit = np.max(np.abs(x)) / std
        table = {
            "bbands": ((upper, mean, lower)[part], np.abs(mean)),
            "percent_b": (np.where(width > 0, (c - lower) / width, np.nan), unit),
            "bandwidth": (np.where(mean != 0, width / mean, np.nan), np.abs(width / mean)),
        }
        z = np.where(std == 0.0, 0.0, (x - mean) / std)
        return table.get(name, (z, unit))


def _plain(values: Array) -> tuple[Array, Array]:
    return values, np.abs(values)


def _legacy_rv(name: str, s: Series, n: int) -> Array:
    o, h, lo, c = s["open"], s["high"], s["low"], s["close"]
    if name == "rv_close_to_close":
        r = np.concatenate([[np.nan], np.log(c[1:] / c[:-1])])
        return np.sqrt(_mean(r * r, n))
    hl = np.log(h / lo)
    if name == "rv_parkinson":
        return np.sqrt(_mean(hl * hl, n) / (4.0 * math.log(2.0)))
    co = np.log(c / o)
    term = 0.5 * hl * hl - (2.0 * math.log(2.0) - 1.0) * co * co
    return np.sqrt(np.maximum(_mean(term, n), 0.0))


def _legacy_stoch(h: Array, lo: Array, c: Array, part: int) -> tuple[Array, Array]:
    highest, lowest = _windows(h, 21).max(axis=1), _windows(lo, 21).min(axis=1)
    den = (highest - lowest) / 100.0
    raw = np.divide(c[20:] - lowest, den, out=np.zeros_like(den), where=den != 0.0)
    k = _convolve(raw, np.ones(16))[15:]
    d = _convolve(k, np.ones(12))
    value = _pad((k, d)[part][11:], c.size)
    return _plain(value)


def constant_windows(key: str, s: Series) -> NDArray[np.bool_]:
    """Where the window of ``key``'s z-score, band or %B holds identical values only."""
    name, n = split(key)
    if name not in ("zscore", "volume_zscore", "percent_b", "bandwidth"):
        return np.zeros(s["close"].size, dtype=bool)
    x = s["volume"] if name == "volume_zscore" else s["close"]
    w = _windows(x, int(n))
    return _pad((w.max(axis=1) == w.min(axis=1)).astype(np.float64), x.size) == 1.0


CONSTANT_VALUE = {"zscore": 0.0, "volume_zscore": 0.0, "percent_b": np.nan, "bandwidth": 0.0}


class TestBatchIndicators:
    @pytest.mark.parametrize("kind", KINDS)
    def test_recursions_equal_the_old_code_bit_for_bit(self, kind: str) -> None:
        golden = json.loads(GOLDEN.read_text())[kind]
        got = dict(indicator_outputs(batch, make_series(kind)))
        assert got.keys() == golden.keys()
        exact = [key for key in golden if not is_summed(key) and not is_wilder(key)]
        assert len(exact) > 150
        changed = sorted(key for key in exact if digest(got[key]) != golden[key])
        assert changed == []

    @pytest.mark.parametrize("kind", KINDS)
    def test_wilder_smoothings_equal_the_old_recursion_to_1e_12(self, kind: str) -> None:
        golden = json.loads(GOLDEN.read_text())[kind]
        s = make_series(kind)
        wilder = [(k, v) for k, v in indicator_outputs(batch, s) if is_wilder(k)]
        assert len(wilder) == 44  # ATR, RSI and two Keltner bands over 11 periods
        for key, got in wilder:
            expected = legacy_wilder(key, s)
            assert digest(expected) == golden[key], key  # the reference is the old code
            np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
            ok = ~np.isnan(expected)
            np.testing.assert_allclose(got[ok], expected[ok], rtol=TOL, atol=0, err_msg=key)

    @pytest.mark.parametrize("kind", KINDS)
    def test_window_sums_equal_the_old_code_to_1e_12(self, kind: str) -> None:
        s = make_series(kind)
        summed = [(k, v) for k, v in indicator_outputs(batch, s) if is_summed(k)]
        assert len(summed) > 100
        failures = []
        for key, got in summed:
            expected, unit = legacy(key, s)
            constant = constant_windows(key, s)
            if constant.any():
                value = CONSTANT_VALUE[split(key)[0]]
                np.testing.assert_array_equal(got[constant], np.full(constant.sum(), value))
            keep = ~constant
            np.testing.assert_array_equal(np.isnan(got[keep]), np.isnan(expected[keep]))
            ok = keep & ~np.isnan(expected)
            floor = np.max(np.abs(expected[ok]))
            limit = TOL * np.maximum(np.maximum(unit[ok], floor), 1e-300)
            if not np.all(np.abs(got[ok] - expected[ok]) <= limit):
                failures.append(key)
        assert failures == []


class TestKernels:
    """The kernels against the NumPy expressions they replace, on other sizes and data."""

    @pytest.mark.parametrize("n", [1, 2, 5, 14, 60])
    def test_rolling_extreme_equals_numpy_with_nan(self, n: int) -> None:
        rng = np.random.default_rng(n)
        x = np.round(rng.standard_normal(500), 1)  # many ties
        x[[3, 170, 171, 400]] = np.nan
        windows = sliding_window_view(x, n)
        assert np.array_equal(rolling_extreme(x, n, True), windows.max(axis=1), equal_nan=True)
        assert np.array_equal(rolling_extreme(x, n, False), windows.min(axis=1), equal_nan=True)

    @pytest.mark.parametrize("n", [1, 2, 5, 14, 60])
    @pytest.mark.parametrize("size", [1, 59, 700, 703])
    def test_range_position_equals_numpy(self, n: int, size: int) -> None:
        rng = np.random.default_rng(n + size)
        c = np.round(rng.standard_normal(size), 1)  # many ties, flat ranges
        h = c + np.round(np.abs(rng.standard_normal(size)), 1)
        lo = c - np.round(np.abs(rng.standard_normal(size)), 1)
        expected_r = np.full((2, size), np.nan)
        if size >= n:
            highest = sliding_window_view(h, n).max(axis=1)
            lowest = sliding_window_view(lo, n).min(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                for row, (num, scale) in enumerate(
                    ((highest - c[n - 1 :], -100.0), (c[n - 1 :] - lowest, 100.0))
                ):
                    den = (highest - lowest) / scale
                    expected_r[row, n - 1 :] = np.where(den != 0.0, num / den, 0.0)
        for row, mode in enumerate((WILLR, RAW_K)):
            got = range_position_kernel(h, lo, c, n, mode)
            assert np.array_equal(got, expected_r[row], equal_nan=True)

    @pytest.mark.parametrize("n", [12, 30, 300])
    def test_running_sums_do_not_drift_on_a_long_series(self, n: int) -> None:
        x = 1.1 * np.exp(np.cumsum(np.random.default_rng(n).standard_normal(200_000) * 1e-3))
        exact = np.array([math.fsum(x[i - n + 1 : i + 1]) for i in range(x.size - 2000, x.size)])
        weights = np.arange(1.0, n + 1.0)
        weighted = np.array(
            [math.fsum(x[i - n + 1 : i + 1] * weights) for i in range(x.size - 2000, x.size)]
        )
        tail = slice(x.size - 2000, x.size)
        np.testing.assert_allclose(batch.sma(x, n)[tail], exact / n, rtol=TOL, atol=0)
        np.testing.assert_allclose(
            batch.wma(x, n)[tail], weighted / weights.sum(), rtol=TOL, atol=0
        )
        mean, std = _moments(x[-2000 - n :], n)
        upper, middle, _ = batch.bbands(x[-2000 - n :], n, 2.0)
        np.testing.assert_allclose(middle[n:], mean[n:], rtol=TOL, atol=0)
        np.testing.assert_allclose((upper - middle)[n:] / 2.0, std[n:], rtol=1e-9, atol=0)

    def test_short_series_are_all_nan(self) -> None:
        x = np.arange(3, dtype=np.float64) + 1.0
        for values in (batch.sma(x, 5), batch.wma(x, 20), batch.cci(x, x, x, 5)):
            assert values.size == 3 and np.isnan(values).all()
        assert rolling_extreme(x, 5, True).size == 0
