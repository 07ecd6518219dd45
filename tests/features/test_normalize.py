"""Past-only rolling scalers: streaming == batch, past-only, clipping, NaN, zero scale,
snapshot continuation.

Tolerance for streaming vs batch: ``|stream - batch| <= 1e-10 + 1e-9 * |batch|`` (the robust
scaler is exact; the z-score's running sums and pandas' online variance differ by ~1e-13).
"""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Callable

import numpy as np
import pytest

from chainflow.features.normalize import (
    RollingRobustScaler,
    RollingZScoreScaler,
    rolling_robust_scale,
    rolling_zscore_scale,
)

RTOL = 1e-9
ATOL = 1e-10

Scaler = RollingZScoreScaler | RollingRobustScaler
PAIRS: list[tuple[type[Scaler], Callable[..., np.ndarray]]] = [
    (RollingZScoreScaler, rolling_zscore_scale),
    (RollingRobustScaler, rolling_robust_scale),
]
IDS = ["zscore", "robust"]


def stream(scaler: Scaler, x: np.ndarray) -> np.ndarray:
    return np.array([scaler.update(v) for v in x.tolist()])


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    mask = ~np.isnan(expected)
    assert mask.any()
    np.testing.assert_allclose(actual[mask], expected[mask], rtol=RTOL, atol=ATOL)


def heavy_tailed(size: int, scale: float, offset: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_t(3, size) * scale + offset
    x[rng.random(size) < 0.02] = np.nan
    x[size // 4 : size // 4 + 600] = offset + 3 * scale  # constant, longer than the window
    x[size // 2] = np.inf
    return x


def reference(x: np.ndarray, t: int, window: int, clip: float, robust: bool) -> float:
    """Scaled ``x[t]`` from first principles: numpy statistics of the previous values."""
    past = x[:t][np.isfinite(x[:t])][-window:]
    if robust:
        q25, median, q75 = np.percentile(past, [25, 50, 75])
        z = 0.0 if q75 == q25 else (x[t] - median) / (q75 - q25)
    else:
        std = past.std()
        z = 0.0 if std == 0.0 else (x[t] - past.mean()) / std
    return float(np.clip(z, -clip, clip))


@pytest.mark.parametrize(("scaler_type", "batch"), PAIRS, ids=IDS)
@pytest.mark.parametrize(("scale", "offset"), [(1e-4, 0.0), (1e-4, 2e-3), (1.0, 1e4)])
def test_stream_equals_batch_on_20000_values(
    scaler_type: type[Scaler], batch: Callable[..., np.ndarray], scale: float, offset: float
) -> None:
    x = heavy_tailed(20_000, scale, offset)
    expected = batch(x, 500, 5.0, 200)
    assert_same(stream(scaler_type(500, 5.0, 200), x), expected)
    assert np.isfinite(expected[300:5000][np.isfinite(x[300:5000])]).all()


@pytest.mark.parametrize(("scaler_type", "batch"), PAIRS, ids=IDS)
def test_matches_first_principles(
    scaler_type: type[Scaler], batch: Callable[..., np.ndarray]
) -> None:
    x = heavy_tailed(3000, 1e-4, 0.0, seed=4)
    x[x > 4e-4] *= 50.0  # a few outliers, clipped
    robust = scaler_type is RollingRobustScaler
    out = batch(x, 250, 3.0, 50)
    for t in (60, 249, 250, 251, 777, 1500, 2999):
        if np.isfinite(x[t]):
            assert out[t] == pytest.approx(reference(x, t, 250, 3.0, robust), rel=1e-12, abs=1e-12)
    assert np.nanmax(np.abs(out)) == 3.0


@pytest.mark.parametrize(("scaler_type", "batch"), PAIRS, ids=IDS)
def test_past_only(scaler_type: type[Scaler], batch: Callable[..., np.ndarray]) -> None:
    """Changing ``x[t]`` changes the scaled ``x[t]`` only through ``x[t]`` itself: earlier
    outputs are equal, and ``x[t]`` equal to the past mean/median scales to 0."""
    x = heavy_tailed(2000, 1e-4, 0.0, seed=2)
    x[:1200] = np.nan_to_num(x[:1200], nan=1e-5, posinf=1e-5)
    t = 1000
    base = batch(x, 300, 5.0, 100)
    for value in (1.0, -1.0, 0.0, 3e-4):
        changed = x.copy()
        changed[t] = value
        out = batch(changed, 300, 5.0, 100)
        np.testing.assert_array_equal(out[:t], base[:t])
        streamed = stream(scaler_type(300, 5.0, 100), changed)
        np.testing.assert_array_equal(streamed[:t], stream(scaler_type(300, 5.0, 100), x)[:t])
    past = x[t - 300 : t]
    centre = float(np.median(past)) if scaler_type is RollingRobustScaler else float(past.mean())
    changed = x.copy()
    changed[t] = centre
    assert batch(changed, 300, 5.0, 100)[t] == pytest.approx(0.0, abs=1e-9)
    later = x.copy()
    later[t + 1 :] = 7.0  # the future does not move the present
    np.testing.assert_array_equal(batch(later, 300, 5.0, 100)[: t + 1], base[: t + 1])


@pytest.mark.parametrize(("scaler_type", "batch"), PAIRS, ids=IDS)
def test_clipping(scaler_type: type[Scaler], batch: Callable[..., np.ndarray]) -> None:
    x = np.random.default_rng(3).standard_normal(400)
    x[300], x[301] = 1e6, -1e6
    for out in (batch(x, 200, 2.5, 50), stream(scaler_type(200, 2.5, 50), x)):
        assert out[300] == 2.5
        assert out[301] == -2.5
        assert np.nanmax(np.abs(out)) == 2.5


@pytest.mark.parametrize(("scaler_type", "batch"), PAIRS, ids=IDS)
def test_nan_in_nan_out_and_not_added(
    scaler_type: type[Scaler], batch: Callable[..., np.ndarray]
) -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal(1000)
    holes = rng.random(1000) < 0.2
    x[holes] = np.nan
    x[10] = -np.inf
    holes[10] = True
    out = batch(x, 100, 5.0, 30)
    streamed = stream(scaler_type(100, 5.0, 30), x)
    assert np.isnan(out[holes]).all() and np.isnan(streamed[holes]).all()
    compact = batch(x[~holes], 100, 5.0, 30)  # as if the missing values never came
    np.testing.assert_array_equal(out[~holes], compact)
    assert_same(streamed, out)


@pytest.mark.parametrize(("scaler_type", "batch"), PAIRS, ids=IDS)
def test_min_periods(scaler_type: type[Scaler], batch: Callable[..., np.ndarray]) -> None:
    x = np.arange(50, dtype=np.float64) ** 1.5
    for out in (batch(x, 20, 5.0, 7), stream(scaler_type(20, 5.0, 7), x)):
        assert np.isnan(out[:7]).all()
        assert np.isfinite(out[7:]).all()
    assert np.isnan(batch(x, 20, 5.0)[:20]).all()  # min_periods defaults to the window
    assert np.isfinite(batch(x, 20, 5.0)[20:]).all()


@pytest.mark.parametrize(("scaler_type", "batch"), PAIRS, ids=IDS)
def test_zero_scale_gives_zero(scaler_type: type[Scaler], batch: Callable[..., np.ndarray]) -> None:
    rng = np.random.default_rng(6)
    x = np.concatenate(
        [rng.standard_normal(300) * 0.3 + 1.1, np.full(300, 1.13), [1.2, 1.0]]
    )  # 300..599 const
    out = batch(x, 100, 5.0, 20)
    streamed = stream(scaler_type(100, 5.0, 20), x)
    for values in (out, streamed):
        assert (values[400:601] == 0.0).all()  # a constant past: even 1.2 scales to 0
        assert (values[601] != 0.0) == (scaler_type is RollingZScoreScaler)  # IQR still 0
        assert np.isfinite(values[20:]).all()
    assert_same(streamed, out)
    flat = np.full(100, 0.1)
    assert (batch(flat, 10, 5.0, 1)[1:] == 0.0).all()
    assert (stream(scaler_type(10, 5.0, 1), flat)[1:] == 0.0).all()


def test_robust_is_zero_on_a_zero_iqr_window() -> None:
    x = np.array([1.0] * 8 + [1.0, 2.0] + [5.0], dtype=np.float64)  # IQR of the past is 0
    assert rolling_robust_scale(x, 10, 5.0, 5)[-1] == 0.0
    assert stream(RollingRobustScaler(10, 5.0, 5), x)[-1] == 0.0


@pytest.mark.parametrize("scaler_type", [RollingZScoreScaler, RollingRobustScaler], ids=IDS)
def test_snapshot_json_round_trip_continues_identically(scaler_type: type[Scaler]) -> None:
    x = heavy_tailed(4000, 1e-4, 1e-3, seed=7)
    whole = stream(scaler_type(500, 4.0, 100), x)
    first = scaler_type(500, 4.0, 100)
    head = stream(first, x[:2345])
    snapshot = json.loads(json.dumps(first.snapshot(), allow_nan=False))
    second = scaler_type(500, 4.0, 100)
    second.restore(snapshot)
    tail = stream(second, x[2345:])
    np.testing.assert_array_equal(np.concatenate([head, tail]), whole)
    other = scaler_type(400, 4.0, 100)
    with pytest.raises(ValueError, match="expected"):
        other.restore(snapshot)


@pytest.mark.parametrize(("scaler_type", "batch"), PAIRS, ids=IDS)
@pytest.mark.parametrize(
    ("window", "clip", "min_periods"), [(0, 5.0, None), (10, 0.0, None), (10, 5.0, 11)]
)
def test_rejects_bad_parameters(
    scaler_type: type[Scaler],
    batch: Callable[..., np.ndarray],
    window: int,
    clip: float,
    min_periods: int | None,
) -> None:
    with pytest.raises(ValueError, match="expected"):
        scaler_type(window, clip, min_periods)
    with pytest.raises(ValueError, match="expected"):
        batch(np.zeros(20), window, clip, min_periods)


def test_batch_rejects_2d_input() -> None:
    with pytest.raises(ValueError, match="one-dimensional"):
        rolling_zscore_scale(np.zeros((4, 2)), 3, 5.0)


def test_stream_update_returns_float_nan_not_none() -> None:
    scaler = RollingZScoreScaler(5, 5.0, 2)
    assert math.isnan(scaler.update(1.0))
    assert math.isnan(scaler.update(math.nan))
    assert scaler.count == 1


def scaler_state(scaler: Scaler) -> dict[str, object]:
    """Everything a scaler holds, windows included (``_sorted`` for the robust one)."""
    state = {name: value for name, value in vars(scaler).items() if name != "_mark"}
    return json.loads(
        json.dumps({k: list(v) if hasattr(v, "__len__") else v for k, v in state.items()})
    )


@pytest.mark.parametrize("scaler_type", [RollingZScoreScaler, RollingRobustScaler], ids=IDS)
@pytest.mark.parametrize("added", [0, 1, 3, 70])
def test_rewind_undoes_what_was_added_since_the_mark_bit_for_bit(
    scaler_type: type[Scaler], added: int
) -> None:
    """``mark``/``rewind`` (a pipeline's checkpoint and rollback) put the scaler back as it
    was at the mark, its full window's dropped values included, across an exact re-sum of
    the z-score's sums (every 8 windows), again after more values, and it then scales the
    rest of the series exactly as a scaler that never saw the undone values."""
    x = heavy_tailed(3000, 1e-4, 1e-3, seed=11)
    x[2010:2013] = np.nan  # not added: nothing to undo for them
    live, twin = scaler_type(50, 4.0, 20), scaler_type(50, 4.0, 20)
    stream(live, x[:2000])
    stream(twin, x[:2000])
    mark = live.mark()
    before = scaler_state(live)
    for _ in range(2):  # one mark serves a second rewind
        stream(live, x[2000 : 2000 + added] * 1.5)
        live.rewind(mark)
        assert scaler_state(live) == before
    np.testing.assert_array_equal(stream(live, x[2000:]), stream(twin, x[2000:]))
    assert scaler_state(live) == scaler_state(twin)


@pytest.mark.parametrize("scaler_type", [RollingZScoreScaler, RollingRobustScaler], ids=IDS)
def test_rewind_refuses_a_mark_made_stale_by_a_newer_mark_or_a_restore(
    scaler_type: type[Scaler],
) -> None:
    scaler = scaler_type(10, 4.0, 5)
    stream(scaler, np.linspace(1.0, 2.0, 30))
    old = scaler.mark()
    scaler.mark()
    with pytest.raises(ValueError, match="latest mark"):
        scaler.rewind(old)
    restored = scaler.mark()
    scaler.restore(scaler.snapshot())
    with pytest.raises(ValueError, match="latest mark"):
        scaler.rewind(restored)


@pytest.mark.parametrize("scaler_type", [RollingZScoreScaler, RollingRobustScaler], ids=IDS)
def test_a_mark_keeps_at_most_a_window_and_nothing_once_it_is_dropped(
    scaler_type: type[Scaler],
) -> None:
    """A mark keeps only the dropped values the window at the mark needs (at most as many
    as it held), and the scaler keeps nothing for a mark whose checkpoint is gone (the tick
    path drops its undo at the next bar, without a rewind)."""
    x = np.linspace(1.0, 2.0, 200)
    scaler = scaler_type(10, 4.0, 5)
    stream(scaler, x[:50])
    mark = scaler.mark()
    stream(scaler, x[50:150])
    assert len(mark.dropped) == 10  # the whole window at the mark, not all 100 dropped
    del mark
    gc.collect()
    stream(scaler, x[150:])
    assert scaler._mark is None
