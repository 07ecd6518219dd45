"""The per-bar equity curve of the out-of-sample signal backtest (``backtest_report``'s
``equity``): at most ``EQUITY_POINTS`` points of the chained curve, keeping the first and
last bars and the extremes the report's numbers come from; the model card draws it per bar.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from chainflow.backtest.oos_signals import backtest_signal_window
from chainflow.ml.cards.html import equity_chart, render_card_html
from chainflow.ml.cards.model_card import build_card, live_not_kept
from chainflow.ml.registry.types import ModelStage, ModelVersion
from chainflow.ml.training.oos_backtest import (
    EQUITY_POINTS,
    SignalWindow,
    backtest_report,
    equity_points,
)
from tests.fixtures.market_data import make_ohlcv

BAR_MS = 300_000


def windows_of(bars: int, folds: int, seed: int = 5) -> list[SignalWindow]:
    """``folds`` consecutive windows over ``bars`` M5 bars, with predictions that lean up
    and down in turn (so the strategy trades)."""
    data = make_ohlcv(bars, seed=seed)
    rng = np.random.default_rng(seed)
    edges = np.linspace(0, bars, folds + 1).astype(int)
    windows = []
    for start, stop in zip(edges[:-1], edges[1:], strict=True):
        n = stop - start
        lean = np.where(np.arange(n) // 40 % 2 == 0, 0.75, 0.05)
        up = np.clip(lean + 0.05 * rng.standard_normal(n), 0.02, 0.9)
        down = np.clip(0.85 - up, 0.02, 0.9)
        probabilities = np.column_stack([down, 1.0 - up - down, up])
        windows.append(
            SignalWindow(
                ts=data.ts_ms[start:stop],
                open=data.open[start:stop],
                high=data.high[start:stop],
                low=data.low[start:stop],
                close=data.close[start:stop],
                volume=data.volume[start:stop],
                spread=np.full(n, 0.00008),
                probabilities=probabilities,
                volatility=np.full(n, 0.0015),
                momentum=np.full(n, 1.0),
                symbol="EURUSD",
                timeframe="M5",
            )
        )
    return windows


def drawdown_of(points: list[dict[str, float]]) -> float:
    values = np.array([p["equity"] for p in points])
    peak = np.maximum.accumulate(np.maximum(values, 1.0))
    return float(np.min(values / peak - 1.0))


class TestEquityPoints:
    def test_a_long_curve_is_thinned_keeping_its_ends_and_extremes(self) -> None:
        n = 10_000
        rng = np.random.default_rng(1)
        curve = np.cumprod(1.0 + 0.001 * rng.standard_normal(n))
        ts = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * BAR_MS

        points = equity_points(ts, curve)

        assert 200 <= len(points) <= EQUITY_POINTS
        assert points[0] == {"ts": int(ts[0]), "equity": float(curve[0])}
        assert points[-1] == {"ts": int(ts[-1]), "equity": float(curve[-1])}
        stamps = [p["ts"] for p in points]
        assert stamps == sorted(set(stamps))  # increasing, no repeats
        by_ts = dict(zip(ts.tolist(), curve.tolist(), strict=True))
        assert all(p["equity"] == by_ts[p["ts"]] for p in points)
        values = [p["equity"] for p in points]
        assert min(values) == float(curve.min()) and max(values) == float(curve.max())
        full_drawdown = float(np.min(curve / np.maximum.accumulate(np.maximum(curve, 1.0)) - 1))
        assert drawdown_of(points) == pytest.approx(full_drawdown, rel=1e-12)
        gaps = np.diff(stamps)
        assert gaps.max() <= 2 * n / (EQUITY_POINTS - 6) * BAR_MS  # spread over the curve

    def test_a_short_curve_is_kept_whole_and_an_empty_one_is_empty(self) -> None:
        curve = np.array([1.0, 1.01, 0.99, 1.02])
        ts = np.array([10, 20, 30, 40], dtype=np.int64)

        assert equity_points(ts, curve) == [
            {"ts": 10, "equity": 1.0},
            {"ts": 20, "equity": 1.01},
            {"ts": 30, "equity": 0.99},
            {"ts": 40, "equity": 1.02},
        ]
        assert equity_points(np.empty(0, np.int64), np.empty(0)) == []
        with pytest.raises(ValueError, match="one ts per equity value"):
            equity_points(ts[:3], curve)


class TestBacktestReport:
    def test_the_report_stores_the_chained_curve_per_bar(self) -> None:
        windows = windows_of(3_000, folds=3)

        report = backtest_report(windows, backtest_signal_window)

        equity = report["equity"]
        assert report["trades"] > 0 and report["bars"] == 3_000
        assert 200 <= len(equity) <= EQUITY_POINTS
        assert set(equity[0]) == {"ts", "equity"}
        assert isinstance(equity[0]["ts"], int) and isinstance(equity[0]["equity"], float)
        assert equity[0]["ts"] == int(windows[0].ts[0])
        assert equity[-1]["ts"] == int(windows[-1].ts[-1])
        assert equity[-1]["equity"] == pytest.approx(1.0 + report["return"], rel=1e-12)
        assert drawdown_of(equity) == pytest.approx(report["max_drawdown"], rel=1e-12)
        # The chain: the equity at each window's last bar is the product of window returns.
        by_ts = {p["ts"]: p["equity"] for p in equity}
        chained = 1.0
        for window, summary in zip(windows, report["windows"], strict=True):
            chained *= 1.0 + summary["return"]
            last = int(window.ts[-1])
            if last in by_ts:
                assert by_ts[last] == pytest.approx(chained, rel=1e-9)

    def test_the_card_draws_one_point_per_kept_bar(self) -> None:
        report = backtest_report(windows_of(1_200, folds=2), backtest_signal_window)
        card = build_card(model_with(report), live_not_kept("not wired", 500))

        backtest = card.backtest
        assert backtest is not None and backtest.resolution == "bar"
        assert [(p.ts, p.equity) for p in backtest.equity] == [
            (p["ts"], p["equity"]) for p in report["equity"]
        ]
        chart = equity_chart(backtest)
        assert chart is not None and len(chart.points.split()) == len(report["equity"])
        assert "One point per bar." in render_card_html(card)


def model_with(backtest: dict[str, object]) -> ModelVersion:
    return ModelVersion(
        id="m1",
        tenant_id=None,
        name="fx-equity",
        version=1,
        family="lightgbm",
        feature_set="fx-core@1",
        feature_set_fingerprint="ab" * 32,
        label={"kind": "direction", "horizon": 6},
        symbols=("EURUSD",),
        timeframe="M5",
        train_from_ts=1_700_000_000_000,
        train_to_ts=1_700_360_000_000,
        metrics={"backtest": backtest},
        artifact_path="fx-equity/1.onnx",
        artifact_sha256="cd" * 32,
        artifact_bytes=1,
        stage=ModelStage.CANDIDATE,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        promoted_at=None,
        archived_at=None,
        created_by=None,
    )
