"""``chainflow demo``: the whole loop on a fresh home, as a newcomer runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from chainflow.core.market import Timeframe
from chainflow.features.sets import get_feature_set
from chainflow.runtime.demo_market import HOUR_MS, build_demo_market
from chainflow.runtime.demo_view import DemoState, percentile, summary_lines


class TestDemoCommand:
    def test_replays_ticks_and_prints_summary_and_urls(self, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFLOW_")}
        env["COLUMNS"] = "140"
        home = tmp_path / "demo-home"
        result = subprocess.run(
            [sys.executable, "-m", "chainflow", "demo", "--ticks", "150", "--speed", "max",
             "--symbols", "EURUSD,USDJPY", "--home", str(home)],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        out = result.stdout
        assert result.returncode == 0, out + result.stderr
        assert re.search(r"model fx-default@\d+ \(lightgbm, M5\) (trained in|loaded)", out)
        sent, acked = map(int, re.search(r"ticks: (\d+) sent, (\d+) acked", out).groups())
        assert sent == acked == 150
        received = int(re.search(r"signals: (\d+) received", out).group(1))
        assert received > 0  # every_tick: one per tick once the symbol's features are warm
        for path in ("/docs", "/api/v1/signals?", "/api/v1/market/bars?", "/metrics", "/ws/stream"):
            assert path in out
        assert "password" in out and "token" in out
        assert (home / "chainflow.db").exists()  # --home keeps the data


class TestDemoMarket:
    def test_history_warms_the_model_timeframe_and_ticks_end_before_now(self) -> None:
        now_ms = int(time.time() * 1000)
        market = build_demo_market(["EURUSD", "GBPUSD"], now_ms=now_ms, minutes=10)
        warmup = get_feature_set("fx-core@1").warmup_bars
        first_tick = market.ticks[0].ts
        for symbol in ("EURUSD", "GBPUSD"):
            m5 = [b for b in market.bars if b.symbol == symbol and b.timeframe == Timeframe.M5]
            assert len(m5) > warmup
            assert max(b.ts for b in m5) + Timeframe.M5.milliseconds <= first_tick
        assert market.offset_ms % HOUR_MS == 0  # every bar stays on its bucket
        assert now_ms - HOUR_MS - 1_000 < market.ticks[-1].ts < now_ms
        assert [t.ts for t in market.ticks] == sorted(t.ts for t in market.ticks)

    def test_alias_plays_a_known_series_under_another_name(self) -> None:
        market = build_demo_market(
            ["EURUSD.C01"], now_ms=int(time.time() * 1000), max_ticks=5,
            alias={"EURUSD.C01": "EURUSD"},
        )  # fmt: skip
        assert market.symbols == ("EURUSD.C01",) and len(market.ticks) == 5
        assert {t.symbol for t in market.ticks} == {"EURUSD.C01"}


class TestSummary:
    def test_percentiles_and_lines_name_the_figures(self) -> None:
        state = DemoState(total_ticks=3, symbols={})
        state.record_sent([{"symbol": "EURUSD", "bid": 1.1, "ask": 1.1001, "seq": 1}])
        state.record_signal({"symbol": "EURUSD", "action": "buy", "latency_ms": 2.0}, 5.0)
        state.acked, state.elapsed_s = 1, 1.0
        assert percentile([5.0, 1.0, 3.0], 50) == 3.0 and percentile([], 99) is None
        text = "\n".join(summary_lines(state))
        assert "ticks: 1 sent, 1 acked" in text and "signals: 1 received (buy 1)" in text
