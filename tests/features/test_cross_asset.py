"""Cross-asset features: streaming == batch == NumPy/pandas correlation, alignment, snapshot,
currency strength by hand, lead-lag on shifted data."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from chainflow.features.cross_asset import (
    LeadLag,
    RollingCorrelation,
    aligned_log_returns,
    correlation_matrix,
    lead_lag,
    rolling_correlation,
)
from chainflow.features.currency_strength import (
    currency_strength,
    parse_currency_pair,
    rolling_currency_strength,
)

RTOL = 1e-9
SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD")
BAR_MS = 60_000

Event = tuple[str, int, float]


def make_closes(size: int = 600, seed: int = 3) -> np.ndarray:
    """Closes (size × 4) of correlated random walks: one common factor plus own noise."""
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(size)
    loadings = np.array([0.8, 0.6, -0.5, 0.2])
    noise = rng.standard_normal((size, len(loadings)))
    returns = 1e-3 * (common[:, None] * loadings + noise)
    return np.array([1.1, 1.3, 150.0, 2000.0]) * np.exp(np.cumsum(returns, axis=0))


def make_events(ts: np.ndarray, closes: np.ndarray, seed: int = 5) -> list[Event]:
    """Interleave per-symbol closes as a feed would: each symbol late by its own 0–3 bars."""
    rng = np.random.default_rng(seed)
    keyed = []
    for column, symbol in enumerate(SYMBOLS):
        delay = column % 4
        for i in range(len(ts)):
            arrival = (i + delay, rng.random())
            keyed.append((arrival, (symbol, int(ts[i]), float(closes[i, column]))))
    keyed.sort(key=lambda item: item[0])
    return [event for _, event in keyed]


def feed(stream: RollingCorrelation, events: list[Event]) -> list[np.ndarray]:
    """Feed events; return the matrix after each new return row."""
    matrices = []
    for symbol, ts, close in events:
        before = stream.count
        stream.update(symbol, ts, close)
        if stream.count != before:
            matrices.append(stream.matrix())
    return matrices


def by_symbol(ts: np.ndarray, closes: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {symbol: (ts, closes[:, column]) for column, symbol in enumerate(SYMBOLS)}


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert_array_equal(np.isnan(actual), np.isnan(expected))
    ok = ~np.isnan(expected)
    assert ok.any()
    assert_allclose(actual[ok], expected[ok], rtol=RTOL, atol=0)


CLOSES = make_closes()
TS = BAR_MS * np.arange(len(CLOSES), dtype=np.int64)


class TestAlignedLogReturns:
    def test_full_overlap_is_log_ratio_of_consecutive_closes(self) -> None:
        ts, returns = aligned_log_returns(by_symbol(TS, CLOSES))
        assert_array_equal(ts, TS[1:])
        assert_array_equal(returns, np.log(CLOSES[1:] / CLOSES[:-1]))
        assert_allclose(returns, np.diff(np.log(CLOSES), axis=0), rtol=0, atol=1e-15)

    def test_missing_timestamp_skips_the_row_for_every_symbol(self) -> None:
        ts, returns = aligned_log_returns(
            {"A": ([1, 2, 3, 4], [1.0, 2.0, 4.0, 8.0]), "B": ([1, 2, 4], [10.0, 20.0, 5.0])}
        )
        assert_array_equal(ts, [2, 4])
        expected = [[math.log(2.0), math.log(2.0)], [math.log(4.0), math.log(0.25)]]
        assert_allclose(returns, expected, rtol=1e-15)

    def test_out_of_order_and_duplicate_entries_are_dropped(self) -> None:
        ts, returns = aligned_log_returns(
            {"A": ([1, 3, 2, 3, 4], [1.0, 2.0, 99.0, 98.0, 4.0]), "B": ([1, 3, 4], [1.0, 1.0, 2.0])}
        )
        assert_array_equal(ts, [3, 4])
        assert_allclose(returns, [[math.log(2.0), 0.0], [math.log(2.0), math.log(2.0)]])

    def test_fewer_than_two_complete_rows_gives_empty_returns(self) -> None:
        ts, returns = aligned_log_returns({"A": ([1, 2], [1.0, 2.0]), "B": ([2, 3], [1.0, 2.0])})
        assert ts.shape == (0,)
        assert returns.shape == (0, 2)

    @pytest.mark.parametrize(
        ("closes", "message"),
        [
            ({"A": ([1, 2], [1.0, 2.0])}, "expected at least 2 distinct symbols"),
            ({"A": ([1, 2], [1.0]), "B": ([1, 2], [1.0, 2.0])}, "same 1-D shape"),
            ({"A": ([1, 2], [1.0, 0.0]), "B": ([1, 2], [1.0, 2.0])}, "positive finite"),
        ],
    )
    def test_bad_input_raises(self, closes: dict, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            aligned_log_returns(closes)


class TestBatchCorrelation:
    def test_rolling_matches_numpy_corrcoef_every_row(self) -> None:
        _, returns = aligned_log_returns(by_symbol(TS, CLOSES))
        window = 30
        matrices = rolling_correlation(returns, window)
        assert matrices.shape == (len(returns), 4, 4)
        assert np.isnan(matrices[: window - 1]).all()
        for t in range(window - 1, len(returns)):
            assert_same(matrices[t], np.corrcoef(returns[t - window + 1 : t + 1].T))

    def test_rolling_matches_pandas_rolling_corr(self) -> None:
        _, returns = aligned_log_returns(by_symbol(TS, CLOSES))
        window = 50
        frame = pd.DataFrame(returns, columns=list(SYMBOLS))
        expected = frame.rolling(window).corr().to_numpy().reshape(len(returns), 4, 4)
        assert_same(rolling_correlation(returns, window), expected)

    def test_latest_window_matches_pandas_corr(self) -> None:
        _, returns = aligned_log_returns(by_symbol(TS, CLOSES))
        expected = pd.DataFrame(returns[-40:]).corr().to_numpy()
        assert_same(correlation_matrix(returns, 40), expected)
        assert_same(correlation_matrix(returns), np.corrcoef(returns.T))

    def test_short_input_is_nan(self) -> None:
        returns = np.diff(np.log(CLOSES[:10]), axis=0)
        assert np.isnan(correlation_matrix(returns, 20)).all()
        assert np.isnan(rolling_correlation(returns, 20)).all()

    def test_constant_series_is_nan_off_the_diagonal(self) -> None:
        returns = np.diff(np.log(CLOSES[:40]), axis=0)
        returns[:, 1] = 0.0
        matrix = correlation_matrix(returns, 20)
        assert_array_equal(np.diag(matrix), 1.0)
        assert np.isnan(matrix[1, [0, 2, 3]]).all()
        assert np.isnan(matrix[[0, 2, 3], 1]).all()
        assert not np.isnan(matrix[0, 2])

    @pytest.mark.parametrize(
        ("returns", "window", "message"),
        [
            (np.zeros((10, 3)), 1, "expected window to be an integer >= 2; received 1"),
            (np.zeros((10, 1)), 5, r"expected returns of shape \(n, k >= 2\)"),
            (np.full((10, 2), np.nan), 5, "expected finite returns"),
        ],
    )
    def test_bad_input_raises(self, returns: np.ndarray, window: int, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            rolling_correlation(returns, window)


class TestRollingCorrelation:
    @pytest.mark.parametrize("window", [2, 25, 120])
    def test_stream_equals_batch_every_row(self, window: int) -> None:
        stream = RollingCorrelation(SYMBOLS, window)
        matrices = np.array(feed(stream, make_events(TS, CLOSES)))
        _, returns = aligned_log_returns(by_symbol(TS, CLOSES))
        assert stream.count == len(returns) == len(CLOSES) - 1
        assert_same(matrices, rolling_correlation(returns, window))
        assert stream.ignored == stream.dropped == 0

    def test_latest_matrix_equals_numpy_corrcoef_after_sliding(self) -> None:
        window = 40
        stream = RollingCorrelation(SYMBOLS, window)
        feed(stream, make_events(TS, CLOSES))
        returns = np.diff(np.log(CLOSES), axis=0)
        assert_same(stream.matrix(), np.corrcoef(returns[-window:].T))
        first = np.corrcoef(returns[:window].T)
        assert not np.allclose(stream.matrix(), first)

    def test_not_ready_is_nan_then_diagonal_is_one(self) -> None:
        stream = RollingCorrelation(SYMBOLS, 5)
        events = make_events(TS[:6], CLOSES[:6])
        feed(stream, events[:-1])
        assert stream.count == 4 and not stream.is_ready
        assert np.isnan(stream.matrix()).all()
        stream.update(*events[-1])
        assert stream.is_ready
        assert_array_equal(np.diag(stream.matrix()), 1.0)

    def test_missing_timestamps_follow_the_batch_alignment(self) -> None:
        rng = np.random.default_rng(11)
        data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        events: list[Event] = []
        for column, symbol in enumerate(SYMBOLS):
            keep = rng.random(len(TS)) > 0.05  # each symbol misses ~5% of its bars
            data[symbol] = (TS[keep], CLOSES[keep, column])
            events += [(symbol, int(t), float(c)) for t, c in zip(*data[symbol], strict=True)]
        events.sort(key=lambda event: (event[1], rng.random()))
        stream = RollingCorrelation(SYMBOLS, 20)
        matrices = np.array(feed(stream, events))
        ts, returns = aligned_log_returns(data)
        assert len(returns) < len(TS) - 1
        assert stream.count == len(returns)
        assert stream.last_complete_ts == ts[-1]
        assert stream.dropped > 0
        assert_same(matrices, rolling_correlation(returns, 20))

    def test_out_of_order_and_duplicates_are_ignored_and_counted(self) -> None:
        events = make_events(TS[:200], CLOSES[:200])
        noisy: list[Event] = []
        for i, event in enumerate(events):
            noisy.append(event)
            if i % 7 == 3:
                noisy.append(event)  # duplicate
            if i % 11 == 5:
                noisy.append((event[0], event[1] - BAR_MS, 999.0))  # late, out of order
        stream = RollingCorrelation(SYMBOLS, 15)
        clean = RollingCorrelation(SYMBOLS, 15)
        matrices = feed(stream, noisy)
        assert_array_equal(np.array(matrices), np.array(feed(clean, events)))
        assert stream.ignored == len(noisy) - len(events)
        assert stream.count == clean.count == 199

    def test_silent_symbol_keeps_pending_rows_bounded(self) -> None:
        stream = RollingCorrelation(("A", "B", "C"), 10, max_pending=16)
        for i in range(1, 1001):
            stream.update("A", i, 1.0 + i)
            stream.update("B", i, 2.0 + i)
        assert len(stream.snapshot()["pending"]) == 16
        assert stream.dropped == 1000 - 16
        assert stream.count == 0
        stream.update("C", 1000, 5.0)
        assert len(stream.snapshot()["pending"]) == 0
        assert stream.last_complete_ts == 1000

    def test_completed_row_drops_older_pending_rows(self) -> None:
        stream = RollingCorrelation(("A", "B"), 3)
        stream.update("A", 1, 1.0)
        stream.update("A", 2, 1.0)  # B never sends 1 or 2
        stream.update("A", 3, 1.0)
        stream.update("B", 3, 1.0)
        assert stream.snapshot()["pending"] == []
        assert stream.dropped == 2

    def test_snapshot_is_strict_json_and_restore_continues_identically(self) -> None:
        events = make_events(TS, CLOSES)
        cut = len(events) // 2 + 3  # mid-row, with pending rows and a partial recompute
        original = RollingCorrelation(SYMBOLS, 30)
        feed(original, events[:cut])
        original.update("EURUSD", 0, 1.0)  # an ignored close, so the counter travels too
        text = json.dumps(original.snapshot(), allow_nan=False)
        assert json.loads(text)["pending"]
        restored = RollingCorrelation(SYMBOLS, 30)
        restored.restore(json.loads(text))
        assert restored.snapshot() == original.snapshot()
        assert_array_equal(
            np.array(feed(restored, events[cut:])), np.array(feed(original, events[cut:]))
        )
        assert restored.snapshot() == original.snapshot()
        assert restored.ignored == 1

    def test_snapshot_of_a_fresh_instance_is_strict_json(self) -> None:
        stream = RollingCorrelation(SYMBOLS, 5)
        restored = RollingCorrelation(SYMBOLS, 5)
        restored.restore(json.loads(json.dumps(stream.snapshot(), allow_nan=False)))
        assert restored.snapshot() == stream.snapshot()

    def test_reset_forgets_everything(self) -> None:
        stream = RollingCorrelation(SYMBOLS, 5)
        fresh = RollingCorrelation(SYMBOLS, 5).snapshot()
        feed(stream, make_events(TS[:50], CLOSES[:50]))
        stream.reset()
        assert stream.snapshot() == fresh

    def test_restore_rejects_other_parameters(self) -> None:
        snapshot = RollingCorrelation(SYMBOLS, 5).snapshot()
        with pytest.raises(ValueError, match="expected a RollingCorrelation snapshot"):
            RollingCorrelation(SYMBOLS, 6).restore(snapshot)
        with pytest.raises(ValueError, match="expected a RollingCorrelation snapshot"):
            RollingCorrelation(SYMBOLS[::-1], 5).restore(snapshot)

    @pytest.mark.parametrize(
        ("symbols", "window", "message"),
        [
            (SYMBOLS, 1, "expected window to be an integer >= 2; received 1"),
            (SYMBOLS, 2.5, "expected window to be an integer >= 2; received 2.5"),
            (("EURUSD",), 5, "expected at least 2 distinct symbols; received \\['EURUSD'\\]"),
            (("EURUSD", "EURUSD"), 5, "expected at least 2 distinct symbols"),
            (("EURUSD", ""), 5, "expected non-empty symbol strings"),
        ],
    )
    def test_bad_parameters_raise(self, symbols: tuple, window: int, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            RollingCorrelation(symbols, window)

    def test_unknown_symbol_raises(self) -> None:
        stream = RollingCorrelation(SYMBOLS, 5)
        with pytest.raises(ValueError, match="expected one of .*; received 'BTCUSD'"):
            stream.update("BTCUSD", 1, 1.0)

    @pytest.mark.parametrize("close", [0.0, -1.0, math.nan, math.inf])
    def test_bad_close_raises(self, close: float) -> None:
        stream = RollingCorrelation(SYMBOLS, 5)
        with pytest.raises(ValueError, match="expected a positive finite close; received"):
            stream.update("EURUSD", 1, close)


class TestCurrencyStrength:
    def test_hand_computed_example(self) -> None:
        strength = currency_strength({"EURUSD": 0.01, "USDJPY": 0.01, "EURJPY": 0.02})
        # EUR: mean(+0.01, +0.02); USD: mean(-0.01, +0.01); JPY: mean(-0.01, -0.02)
        assert strength == pytest.approx({"EUR": 0.015, "USD": 0.0, "JPY": -0.015}, abs=1e-15)
        assert list(strength) == ["EUR", "USD", "JPY"]
        assert max(strength, key=strength.__getitem__) == "EUR"
        assert min(strength, key=strength.__getitem__) == "JPY"

    def test_zscore_standardises_across_currencies(self) -> None:
        strength = currency_strength({"EURUSD": 0.01, "USDJPY": 0.01, "EURJPY": 0.02}, zscore=True)
        expected = math.sqrt(1.5)  # ±0.015 / (0.015 · sqrt(2/3))
        assert strength == pytest.approx({"EUR": expected, "USD": 0.0, "JPY": -expected})

    def test_zscore_of_equal_strengths_is_zero(self) -> None:
        assert currency_strength({"EURUSD": 0.0}, zscore=True) == {"EUR": 0.0, "USD": 0.0}

    def test_broker_suffixes_and_case_are_tolerated(self) -> None:
        plain = currency_strength({"EURUSD": 0.01, "GBPUSD": -0.02, "AUDNZD": 0.004})
        suffixed = currency_strength({"EURUSD.a": 0.01, "gbpusdm": -0.02, "AUDNZD_i": 0.004})
        assert suffixed == plain
        assert plain == pytest.approx(
            {"EUR": 0.01, "GBP": -0.02, "USD": 0.005, "AUD": 0.004, "NZD": -0.004}
        )

    def test_non_major_symbols_are_skipped_and_absent_currencies_omitted(self) -> None:
        strength = currency_strength({"XAUUSD": 0.5, "US500": 0.1, "USDCHF": 0.003})
        assert strength == pytest.approx({"USD": 0.003, "CHF": -0.003})
        assert currency_strength({"XAUUSD": 0.5, "BTCUSD": 0.2}) == {}

    @pytest.mark.parametrize(
        ("symbol", "expected"),
        [
            ("EURUSD", ("EUR", "USD")),
            ("cadjpy.pro", ("CAD", "JPY")),
            ("USDUSD", None),
            ("XAUUSD", None),
            ("EUR", None),
        ],
    )
    def test_parse_currency_pair(self, symbol: str, expected: tuple[str, str] | None) -> None:
        assert parse_currency_pair(symbol) == expected

    def test_two_symbols_for_one_pair_raise(self) -> None:
        with pytest.raises(ValueError, match="expected one symbol per currency pair; received"):
            currency_strength({"EURUSD": 0.01, "EURUSD.a": 0.01})

    def test_non_finite_return_raises(self) -> None:
        with pytest.raises(ValueError, match="expected a finite return for 'EURUSD'; received"):
            currency_strength({"EURUSD": math.nan})

    def test_rolling_sums_each_window_then_aggregates(self) -> None:
        returns = {
            "EURUSD": np.array([0.01, 0.02, -0.01, 0.0]),
            "USDJPY": np.array([0.0, 0.01, 0.01, 0.02]),
        }
        rolling = rolling_currency_strength(returns, 2)
        assert list(rolling) == ["EUR", "USD", "JPY"]
        # window sums: EURUSD [., 0.03, 0.01, -0.01], USDJPY [., 0.01, 0.02, 0.03]
        assert_allclose(rolling["EUR"], [np.nan, 0.03, 0.01, -0.01], rtol=1e-12)
        assert_allclose(rolling["USD"], [np.nan, -0.01, 0.005, 0.02], rtol=1e-12)
        assert_allclose(rolling["JPY"], [np.nan, -0.01, -0.02, -0.03], rtol=1e-12)

    def test_rolling_last_value_equals_single_form_of_window_sums(self) -> None:
        _, returns = aligned_log_returns(by_symbol(TS, CLOSES))
        by_pair = {symbol: returns[:, column] for column, symbol in enumerate(SYMBOLS)}
        window = 24
        rolling = rolling_currency_strength(by_pair, window, zscore=True)
        single = currency_strength(
            {symbol: float(r[-window:].sum()) for symbol, r in by_pair.items()}, zscore=True
        )
        assert {c: float(s[-1]) for c, s in rolling.items()} == pytest.approx(single, rel=1e-9)
        assert np.isnan(rolling["EUR"][: window - 1]).all()

    def test_rolling_bad_input_raises(self) -> None:
        with pytest.raises(ValueError, match="expected window to be an integer >= 1; received 0"):
            rolling_currency_strength({"EURUSD": [0.1]}, 0)
        with pytest.raises(ValueError, match="expected return series of equal length"):
            rolling_currency_strength({"EURUSD": [0.1, 0.2], "USDJPY": [0.1]}, 1)


def shifted_pair(shift: int, size: int = 800, seed: int = 17) -> tuple[np.ndarray, np.ndarray]:
    """``x`` white noise and ``y_t = x_{t-shift} + noise``, so ``x`` leads ``y`` by ``shift``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(size + abs(shift))
    y = np.roll(x, shift) + 0.3 * rng.standard_normal(x.size)
    return x[abs(shift) :], y[abs(shift) :]


class TestLeadLag:
    def test_x_leading_by_three_bars_gives_best_lag_three(self) -> None:
        x, y = shifted_pair(3)
        result = lead_lag(x, y, 10)
        assert isinstance(result, LeadLag)
        assert result.best_lag == 3
        assert result.best_correlation > 0.9
        assert_array_equal(result.lags, np.arange(-10, 11))

    def test_y_leading_gives_negative_best_lag(self) -> None:
        x, y = shifted_pair(-4)
        assert lead_lag(x, y, 6).best_lag == -4
        assert lead_lag(y, x, 6).best_lag == 4

    def test_negative_correlation_wins_by_absolute_value(self) -> None:
        x, y = shifted_pair(2)
        result = lead_lag(x, -y, 5)
        assert result.best_lag == 2
        assert result.best_correlation < -0.9

    def test_every_lag_matches_a_direct_numpy_computation(self) -> None:
        x, y = shifted_pair(3, size=200)
        result = lead_lag(x, y, 7)
        n = len(x)
        for lag, value in zip(result.lags, result.correlations, strict=True):
            if lag >= 0:
                expected = np.corrcoef(x[: n - lag], y[lag:])[0, 1]
            else:
                expected = np.corrcoef(x[-lag:], y[: n + lag])[0, 1]
            assert value == pytest.approx(expected, rel=RTOL)

    def test_ties_go_to_the_lag_nearest_zero(self) -> None:
        x = np.array([1.0, -1.0] * 20)
        result = lead_lag(x, x, 3)
        assert_array_equal(np.abs(result.correlations), 1.0)  # every lag ties exactly
        assert result.best_lag == 0
        assert result.best_correlation == 1.0

    @pytest.mark.parametrize(
        ("max_lag", "message"),
        [
            (-1, r"expected 0 <= max_lag < len\(x\) - 1 = 9; received max_lag=-1"),
            (9, r"expected 0 <= max_lag < len\(x\) - 1 = 9; received max_lag=9"),
            (10, "received max_lag=10"),
            (1.5, "expected an integer max_lag; received 1.5"),
        ],
    )
    def test_bad_max_lag_raises(self, max_lag: int, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            lead_lag(np.arange(10.0), np.arange(10.0), max_lag)

    def test_bad_series_raise(self) -> None:
        with pytest.raises(ValueError, match="expected x and y of equal length; received 10 and 9"):
            lead_lag(np.arange(10.0), np.arange(9.0), 2)
        with pytest.raises(ValueError, match="expected finite x and y"):
            lead_lag(np.array([1.0, np.nan, 2.0, 3.0]), np.arange(4.0), 1)
