"""Live-vs-backtest drift: the verdict's statistics on known legs, and
``GET /api/v1/analytics/drift`` on the embedded kernel with a registered model, stored bars
and paper trades opened by that model's signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainflow.analytics.drift.compare import MIN_TRADES, compare
from chainflow.analytics.drift.legs import LegTrade, summarize
from chainflow.backtest.api import BacktestConfig, MlStrategy, run_backtest
from chainflow.backtest.data import load_stored
from chainflow.bridge.bar_table import persist_bars
from chainflow.bridge.bars import AggregatedBar
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.trading.paper.desk import PaperSignal
from tests.analytics.test_routes import second_user
from tests.fixtures.api_client import logged_in_client
from tests.fixtures.market_data import make_ohlcv

STEP_MS = 300_000


def trades(wins: int, losses: int, *, start: int = 0, move: float = 0.001) -> list[LegTrade]:
    made = []
    for i in range(wins + losses):
        exit_price = 1.0 + move if i < wins else 1.0 - move
        made.append(LegTrade("EURUSD", "buy", start + i, start + i + 1, 1.0, exit_price, 0.0))
    return made


class TestCompare:
    def test_same_quality_is_consistent(self) -> None:
        live = summarize(trades(30, 20), 0)
        backtest = summarize(trades(31, 21), 0)
        found = compare(live, backtest)
        assert found.verdict == "consistent"
        assert "within noise" in found.summary
        assert not any(g.beyond_noise for g in found.gaps)

    def test_a_collapsed_hit_rate_is_drift_in_plain_words(self) -> None:
        live = summarize(trades(10, 40), 0)
        backtest = summarize(trades(35, 15), 0)
        found = compare(live, backtest)
        assert found.verdict == "drift"
        hit = next(g for g in found.gaps if g.figure == "hit_rate")
        assert hit.beyond_noise and hit.z is not None and hit.z < -2
        assert hit.difference == pytest.approx(0.2 - 0.7)
        assert "the live hit rate is 20% against the backtest's 70%" in found.summary

    def test_missing_trades_are_drift(self) -> None:
        found = compare(summarize(trades(12, 8), 0), summarize(trades(60, 40), 0))
        count = next(g for g in found.gaps if g.figure == "trades")
        assert count.beyond_noise and count.difference == -80
        assert "live made 20 trades where the backtest made 100" in found.summary

    def test_few_trades_are_not_judged(self) -> None:
        found = compare(summarize(trades(1, 5), 0), summarize(trades(30, 5), 0))
        assert found.verdict == "insufficient_data"
        assert f"at least {MIN_TRADES} each" in found.summary

    def test_curve_is_the_running_sum_of_signed_price_returns(self) -> None:
        short = LegTrade("EURUSD", "sell", 5, 10, 2.0, 1.9, 12.5)
        leg = summarize([*trades(1, 0, start=20), short], 0)
        assert leg.curve[0] == (0, 0.0)
        assert [ts for ts, _ in leg.curve] == [0, 10, 21]
        assert leg.curve[1][1] == pytest.approx(5.0) and leg.curve[2][1] == pytest.approx(5.1)
        assert leg.pnl == 12.5 and leg.wins == 2


def stored_bars(count: int) -> list[AggregatedBar]:
    data = make_ohlcv(count, seed=52)
    return [
        AggregatedBar(
            "EURUSD",
            Timeframe.M5,
            int(ts),
            float(o),
            float(h),
            float(low),
            float(c),
            float(v),
            tick_count=1,
            spread_min=0.0001,
            spread_max=0.0001,
            spread_sum=0.0001,
            first_tick_ts=int(ts),
            last_tick_ts=int(ts),
        )
        for ts, o, h, low, c, v in zip(
            data.ts_ms, data.open, data.high, data.low, data.close, data.volume, strict=True
        )
    ]


class TestDriftRoute:
    async def test_live_paper_trades_against_the_models_backtest(self, tmp_path: Path) -> None:
        from tests.ml.test_service import train_and_promote

        async with logged_in_client(tmp_path) as (http, kernel, tenant_id):
            await train_and_promote(kernel, tmp_path, {})
            bars = stored_bars(1500)
            await persist_bars(kernel.infra.timeseries, TenantId(tenant_id), bars)
            start, end = bars[600].ts, bars[-1].ts + STEP_MS
            assert kernel.trading is not None
            desk = kernel.trading.desk
            await desk.ensure(tenant_id)
            for n, (entry, exit_bid) in enumerate(((700, 1.1012), (900, 1.0990))):
                at = bars[entry].ts
                buy = PaperSignal("EURUSD", at, "buy", 1.0, None, None, "fx-default@1", ("r",))
                desk.on_signal(tenant_id, buy)
                await desk.on_tick(tenant_id, "EURUSD", at + 1, 1.1000, 1.1002)
                flat = PaperSignal("EURUSD", at + 2, "hold", 0.0, None, None, "fx-default@1", ())
                desk.on_signal(tenant_id, flat)
                await desk.on_tick(tenant_id, "EURUSD", at + 3 + n, exit_bid, exit_bid + 0.0002)

            query = {"strategy": "fx-default@1", "from": start, "to": end}
            answer = await http.get("/api/v1/analytics/drift", params=query)
            assert answer.status_code == 200, answer.text
            body = answer.json()

            assert body["symbols"] == ["EURUSD"]
            live = body["live"]
            assert (live["trades"], live["wins"], live["hit_rate"]) == (2, 1, 0.5)
            assert live["pnl"] == pytest.approx(100.0 - 120.0)
            assert [p["ts"] for p in live["curve"]][0] == start
            assert live["curve"][-1]["return_pct"] == pytest.approx(live["total_return_pct"])

            stored = await load_stored(
                kernel.infra.timeseries,
                TenantId(tenant_id),
                "EURUSD",
                Timeframe.M5,
                start_ms=start - 500 * STEP_MS,
                end_ms=end,
            )
            first = int(np.searchsorted(stored.ts, start))
            from chainflow.backtest.model_source import ModelSource, load_model
            from chainflow.ml.api import model_registry

            registry = model_registry(kernel.settings, kernel.infra.database, kernel.clock)
            model = await load_model(
                ModelSource(registry, "fx-default").registry, kernel.infra.database, "fx-default@1"
            )
            preferences = await kernel.trading.preferences_source.preferences(tenant_id)
            strategy = MlStrategy.from_bundle(
                model.bundle, preferences, feature_set=model.feature_set
            )
            expected = run_backtest(stored, strategy, None, BacktestConfig(), trade_from=first)
            closed = [
                t
                for t in expected.trades
                if t.exit_reason != "end" and start <= t.entry_ts and t.exit_ts < end
            ]
            run = body["backtest_runs"][0]
            assert (run["timeframe"], run["bars"]) == ("M5", len(stored) - first)
            assert body["backtest"]["trades"] == len(closed) == run["trades"]
            gaps = {g["figure"]: g for g in body["differences"]}
            assert gaps["trades"]["difference"] == 2 - len(closed)
            assert body["verdict"] == "insufficient_data"  # two live trades judge nothing

            other = await second_user(http)
            theirs = (await http.get("/api/v1/analytics/drift", params=query, headers=other)).json()
            assert theirs["live"]["trades"] == 0 and theirs["symbols"] == []

    async def test_unknown_model_and_bad_period_are_422(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, _kernel, _tenant):
            backwards = {"strategy": "fx-default@1", "from": 2000, "to": 1000}
            refused = await http.get("/api/v1/analytics/drift", params=backwards)
            assert refused.status_code == 422
            assert refused.json()["error"]["code"] == "analytics_drift_query_invalid"
            unknown = {"strategy": "nope@3", "from": 0, "to": 10_000, "symbols": "EURUSD"}
            missing = await http.get("/api/v1/analytics/drift", params=unknown)
            assert missing.status_code == 422
            assert "expected nope@3 in the model registry" in missing.json()["error"]["message"]
            del http.headers["Authorization"]
            assert (await http.get("/api/v1/analytics/drift", params=unknown)).status_code == 401
