"""Feature sets: definitions and fingerprints, streaming engine == batch matrix, warm-up,
no lookahead, snapshot continuation, refusal of another set.

Tolerance for streaming vs batch: same NaN positions, and
``|stream - batch| <= 1e-10 + 1e-9 * |batch|`` (the absolute floor covers values crossing
zero, e.g. CCI or the close z-score, whose indicators differ by ~1e-12 absolute).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from chainflow.core.errors import InvalidInput, NotFound
from chainflow.core.market import BarRow, BarSeries
from chainflow.features.engine import FeatureEngine
from chainflow.features.matrix import feature_matrix
from chainflow.features.sets import (
    FEATURE_SETS,
    FX_CORE_V1,
    FeatureSet,
    FeatureSetMismatch,
    FeatureSpec,
    Scaling,
    feature,
    get_feature_set,
)
from tests.fixtures.market_data import OHLCV, make_ohlcv

RTOL = 1e-9
ATOL = 1e-10
FX_CORE_V1_FINGERPRINT = "5525f7b0cbfdae3b415e9d4d69a852d68873146d3769ee2010c3ecd1f55d2187"


def make_spread(size: int, seed: int = 11) -> np.ndarray:
    """Spreads of 1-3 points, 10% unknown (the first one known)."""
    rng = np.random.default_rng(seed)
    spread = rng.choice([1e-5, 2e-5, 3e-5], size)
    spread[1:][rng.random(size - 1) < 0.1] = np.nan
    return spread


def batch(
    data: OHLCV, spread: np.ndarray | None, feature_set: FeatureSet = FX_CORE_V1
) -> np.ndarray:
    return feature_matrix(feature_set, series_of(data, spread))


def series_of(data: OHLCV, spread: np.ndarray | None = None) -> BarSeries:
    return BarSeries.from_arrays(
        ts=data.ts_ms,
        open=data.open,
        high=data.high,
        low=data.low,
        close=data.close,
        volume=data.volume,
        spread=spread,
    )


def bar_rows(data: OHLCV, spread: np.ndarray) -> list[BarRow]:
    columns = [getattr(data, k).tolist() for k in ("open", "high", "low", "close", "volume")]
    return [
        BarRow(ts, *values)
        for ts, *values in zip(data.ts_ms.tolist(), *columns, spread.tolist(), strict=True)
    ]


def run(engine: FeatureEngine, bars: list[BarRow]) -> np.ndarray:
    return np.array([engine.update(bar) for bar in bars]).reshape(len(bars), len(engine.names))


def assert_same_matrix(actual: np.ndarray, expected: np.ndarray, names: tuple[str, ...]) -> None:
    assert actual.shape == expected.shape
    for j, name in enumerate(names):
        a, e = actual[:, j], expected[:, j]
        np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=name)
        mask = ~np.isnan(e)
        np.testing.assert_allclose(a[mask], e[mask], rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.fixture(scope="module")
def market() -> tuple[OHLCV, np.ndarray]:
    data = make_ohlcv(20_000, seed=3)
    return data, make_spread(20_000)


@pytest.fixture(scope="module")
def matrices(market: tuple[OHLCV, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    data, spread = market
    return run(FeatureEngine(FX_CORE_V1), bar_rows(data, spread)), batch(data, spread)


# --- definitions -----------------------------------------------------------------------


def test_fx_core_definition() -> None:
    fs = get_feature_set("fx-core@1")
    assert fs is FX_CORE_V1 and FEATURE_SETS["fx-core@1"] is fs
    assert (fs.name, fs.version, fs.key) == ("fx-core", 1, "fx-core@1")
    assert len(fs.names) == len(set(fs.names)) == 33
    assert fs.names[:3] == ("ret_1", "ret_1_lag1", "ret_1_lag2")
    assert fs.warmup_bars == 26 + 9 - 2 + 200 + 1  # MACD's first value, then 200 past values
    body = fs.to_dict()
    assert body["key"] == "fx-core@1" and len(body["features"]) == 33
    json.dumps(body, allow_nan=False)
    scaled = {f.name: f.scaling.method for f in fs.features}
    assert scaled["rsi_14"] == scaled["tod_sin"] == scaled["session_london"] == "none"
    assert scaled["ret_1"] == "robust" and scaled["atr_rel_14"] == "zscore"


def test_fingerprint_is_stable() -> None:
    """Pinned: changing fx-core@1 in any way needs a new version, not an edit."""
    assert FX_CORE_V1.fingerprint == FX_CORE_V1_FINGERPRINT
    copy = FeatureSet("fx-core", 1, FX_CORE_V1.features, description="another text")
    assert copy.fingerprint == FX_CORE_V1_FINGERPRINT


def _variants(spec: FeatureSpec) -> list[FeatureSpec]:
    """``spec`` with each parameter and each scaling field changed in turn."""
    out = []
    for i, (name, value) in enumerate(spec.params):
        params = list(spec.params)
        params[i] = (name, value + 1 if isinstance(value, int) else value * 1.5)
        out.append(dataclasses.replace(spec, params=tuple(params)))
    s = spec.scaling
    if s.method != "none":
        out.append(dataclasses.replace(spec, scaling=dataclasses.replace(s, window=s.window + 1)))
        out.append(dataclasses.replace(spec, scaling=dataclasses.replace(s, clip=s.clip + 1)))
        out.append(
            dataclasses.replace(spec, scaling=dataclasses.replace(s, min_periods=s.min_periods - 1))
        )
        other = "zscore" if s.method == "robust" else "robust"
        out.append(dataclasses.replace(spec, scaling=dataclasses.replace(s, method=other)))
    else:
        out.append(dataclasses.replace(spec, scaling=Scaling("zscore", 100, 5.0, 10)))
    out.append(dataclasses.replace(spec, name=spec.name + "_x"))
    return out


def test_fingerprint_changes_with_any_parameter() -> None:
    seen = {FX_CORE_V1.fingerprint}
    features = FX_CORE_V1.features
    for i, spec in enumerate(features):
        for variant in _variants(spec):
            changed = FeatureSet("fx-core", 1, (*features[:i], variant, *features[i + 1 :]))
            assert changed.fingerprint not in seen, variant
            seen.add(changed.fingerprint)
    reordered = FeatureSet("fx-core", 1, (features[1], features[0], *features[2:]))
    assert reordered.fingerprint not in seen
    assert dataclasses.replace(FX_CORE_V1, version=2).fingerprint not in seen


def test_ensure_compatible() -> None:
    fs = FX_CORE_V1
    fs.ensure_compatible("fx-core@1", fs.fingerprint)
    fs.ensure_compatible("fx-core@1", fs.fingerprint, list(fs.names))
    other_names = (fs.names[1], fs.names[0], *fs.names[2:])
    for args in (
        ("fx-core@2", fs.fingerprint, None),
        ("fx-core@1", "0" * 64, None),
        ("fx-core@1", fs.fingerprint, other_names),
        ("fx-core@1", fs.fingerprint, fs.names[:-1]),
    ):
        with pytest.raises(FeatureSetMismatch, match="expected feature set fx-core@1") as info:
            fs.ensure_compatible(*args)
        assert isinstance(info.value, InvalidInput)
        assert info.value.code == "feature_set_mismatch" and info.value.status == 422


def test_unknown_key_is_not_found() -> None:
    with pytest.raises(NotFound, match="fx-core@1") as info:
        get_feature_set("fx-core@9")
    assert info.value.code == "not_found"
    assert info.value.details == {"known": ["fx-core@1"]}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: feature("x", "no_such_kind"), "expected a kind"),
        (lambda: feature("x", "rsi"), "expected params"),
        (lambda: feature("x", "rsi", n=14, m=3), "expected params"),
        (lambda: Scaling("minmax", 10, 5.0, 1), "expected method"),
        (lambda: Scaling("zscore", 10, 5.0, 11), "min_periods"),
        (lambda: Scaling("zscore", 10, 0.0, 5), "clip"),
        (lambda: Scaling("none", 10), "no window"),
        (lambda: FeatureSet("s", 1, (feature("a", "rsi", n=3),) * 2), "unique"),
    ],
)
def test_definitions_are_checked(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


# --- streaming == batch ----------------------------------------------------------------


def test_stream_equals_batch_on_20000_bars(matrices: tuple[np.ndarray, np.ndarray]) -> None:
    streamed, batched = matrices
    assert batched.shape == (20_000, 33) and batched.dtype == np.float64
    assert_same_matrix(streamed, batched, FX_CORE_V1.names)


def test_warmup_bars(matrices: tuple[np.ndarray, np.ndarray]) -> None:
    _, batched = matrices
    warmup = FX_CORE_V1.warmup_bars
    assert np.isfinite(batched[warmup - 1 :]).all()
    assert np.isnan(batched[warmup - 2]).any()
    first_valid = [int(np.argmax(np.isfinite(batched[:, j]))) for j in range(33)]
    assert first_valid == [f.first_valid for f in FX_CORE_V1.features]
    assert np.nanmax(np.abs(batched)) <= 5.0 + 1e-12


def test_engine_properties_and_readiness(market: tuple[OHLCV, np.ndarray]) -> None:
    data, spread = market
    engine = FeatureEngine(FX_CORE_V1)
    assert engine.feature_set is FX_CORE_V1 and engine.names == FX_CORE_V1.names
    assert (engine.count, engine.last_ts, engine.is_ready) == (0, None, False)
    bars = bar_rows(data, spread)[: FX_CORE_V1.warmup_bars]
    for bar in bars[:-1]:
        vector = engine.update(bar)
        assert not engine.is_ready
    assert np.isnan(vector).any()
    vector = engine.update(bars[-1])
    assert engine.is_ready and np.isfinite(vector).all()
    assert vector.dtype == np.float64 and vector.shape == (33,)
    assert engine.count == len(bars) and engine.last_ts == bars[-1].ts
    for ts in (bars[-1].ts, bars[-1].ts - 1):
        with pytest.raises(ValueError, match=f"expected ts after {bars[-1].ts}; received {ts}"):
            engine.update(dataclasses.replace(bars[-1], ts=ts))
    assert engine.count == len(bars)


def test_unknown_spread_is_carried_forward_never_zero(market: tuple[OHLCV, np.ndarray]) -> None:
    data, spread = market
    small = make_ohlcv(600, seed=5)
    column = FX_CORE_V1.names.index("rel_spread_bps")
    none_known = batch(small, None)
    assert np.isnan(none_known[:, column]).all()
    gaps = spread[:600].copy()
    gaps[0:3] = np.nan
    streamed = run(FeatureEngine(FX_CORE_V1), bar_rows(small, gaps))
    batched = batch(small, gaps)
    assert_same_matrix(streamed, batched, FX_CORE_V1.names)
    periods = FX_CORE_V1.features[column].scaling.min_periods  # scaled: past values first
    assert np.isnan(streamed[: 3 + periods, column]).all()
    assert np.isfinite(streamed[3 + periods :, column]).all()
    others = [j for j in range(33) if j != column]  # the spread touches nothing else
    np.testing.assert_array_equal(none_known[:, others], batched[:, others])


def test_calendar_and_session_features() -> None:
    ts = np.array([0, 6 * 3_600_000, 8 * 3_600_000 + 30 * 60_000, 13 * 3_600_000], np.int64)
    ts = ts + 4 * 86_400_000  # 1970-01-05 was a Monday
    ones = np.ones(4)
    series = BarSeries.from_arrays(ts=ts, open=ones, high=ones, low=ones, close=ones, volume=ones)
    out = feature_matrix(FX_CORE_V1, series)
    col = {name: out[:, j] for j, name in enumerate(FX_CORE_V1.names)}
    minutes = np.array([0, 360, 510, 780])
    np.testing.assert_allclose(col["tod_sin"], np.sin(2 * np.pi * minutes / 1440), atol=1e-15)
    np.testing.assert_allclose(col["tod_cos"], np.cos(2 * np.pi * minutes / 1440), atol=1e-15)
    np.testing.assert_allclose(col["dow_sin"], 0.0, atol=1e-15)
    np.testing.assert_array_equal(col["dow_cos"], 1.0)
    np.testing.assert_array_equal(col["session_asia"], [1, 1, 1, 0])
    np.testing.assert_array_equal(col["session_london"], [0, 0, 1, 1])
    np.testing.assert_array_equal(col["session_new_york"], [0, 0, 0, 1])


def test_features_are_scale_free() -> None:
    """Prices x 150 (EURUSD -> a JPY-like quote) give the same features."""
    data = make_ohlcv(3000, seed=8, decimals=None)
    spread = make_spread(3000)
    scaled = OHLCV(
        open=data.open * 150.0,
        high=data.high * 150.0,
        low=data.low * 150.0,
        close=data.close * 150.0,
        volume=data.volume,
        ts_ms=data.ts_ms,
    )
    a, b = batch(data, spread), batch(scaled, spread * 150.0)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    mask = ~np.isnan(a)
    np.testing.assert_allclose(b[mask], a[mask], rtol=1e-6, atol=1e-7)


def test_threads_do_not_change_the_result(market: tuple[OHLCV, np.ndarray]) -> None:
    data, spread = market
    small = series_of(make_ohlcv(2000, seed=9), spread[:2000])
    inline = feature_matrix(FX_CORE_V1, small, threads=0)
    np.testing.assert_array_equal(feature_matrix(FX_CORE_V1, small, threads=4), inline)


def test_the_matrix_input_is_checked_where_it_is_built() -> None:
    """The bars reach ``feature_matrix`` as a ``BarSeries``, which refuses bad columns."""
    data = make_ohlcv(50, seed=2)
    args = {
        "ts": data.ts_ms,
        "open": data.open,
        "high": data.high,
        "low": data.low,
        "close": data.close,
        "volume": data.volume,
    }
    with pytest.raises(ValueError, match=r"expected volume of shape \(50,\) like ts"):
        BarSeries.from_arrays(**{**args, "volume": data.volume[:-1]})
    ts = data.ts_ms.copy()
    ts[10] = ts[9]
    with pytest.raises(ValueError, match=f"a bar after {ts[9]} at index 10; received {ts[9]}"):
        BarSeries.from_arrays(**{**args, "ts": ts})


# --- no lookahead ----------------------------------------------------------------------


@pytest.mark.parametrize("cut", [250, 1234, 2998])
def test_no_lookahead(cut: int) -> None:
    data = make_ohlcv(3000, seed=4)
    spread = make_spread(3000)
    other = data.perturbed_after(cut)
    assert not np.array_equal(other.close[cut + 1 :], data.close[cut + 1 :])
    base, changed = batch(data, spread), batch(other, spread)
    np.testing.assert_array_equal(changed[: cut + 1], base[: cut + 1])
    assert not np.array_equal(changed[cut + 1 :], base[cut + 1 :])
    streamed = run(FeatureEngine(FX_CORE_V1), bar_rows(other, spread))
    original = run(FeatureEngine(FX_CORE_V1), bar_rows(data, spread))
    np.testing.assert_array_equal(streamed[: cut + 1], original[: cut + 1])
    assert_same_matrix(streamed, changed, FX_CORE_V1.names)


# --- snapshot / restore ----------------------------------------------------------------


@pytest.mark.parametrize("cut", [0, 1, 40, FX_CORE_V1.warmup_bars, 2500])
def test_snapshot_json_restore_continues_identically(cut: int) -> None:
    data = make_ohlcv(3000, seed=6)
    bars = bar_rows(data, make_spread(3000))
    whole = run(FeatureEngine(FX_CORE_V1), bars)
    first = FeatureEngine(FX_CORE_V1)
    head = run(first, bars[:cut])
    text = json.dumps(first.snapshot(), allow_nan=False)  # strict JSON: NaN encoded
    snapshot = json.loads(text)
    assert snapshot["feature_set"] == "fx-core@1"
    assert snapshot["fingerprint"] == FX_CORE_V1.fingerprint
    second = FeatureEngine(FX_CORE_V1)
    second.restore(snapshot)
    assert (second.count, second.last_ts) == (first.count, first.last_ts)
    tail = run(second, bars[cut:])
    np.testing.assert_array_equal(np.concatenate([head, tail]), whole)
    if cut:
        with pytest.raises(ValueError, match="expected ts after"):
            second.update(bars[cut - 1])


def test_restore_refuses_another_feature_set() -> None:
    data = make_ohlcv(100, seed=6)
    bars = bar_rows(data, make_spread(100))
    v2 = dataclasses.replace(FX_CORE_V1, version=2)
    other = FeatureEngine(v2)
    run(other, bars)
    engine = FeatureEngine(FX_CORE_V1)
    with pytest.raises(FeatureSetMismatch, match="expected a snapshot of fx-core@1"):
        engine.restore(other.snapshot())
    forged = {**other.snapshot(), "feature_set": "fx-core@1"}
    with pytest.raises(FeatureSetMismatch, match="fingerprint"):
        engine.restore(forged)
    assert engine.count == 0
