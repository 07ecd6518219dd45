"""``chainflow demo``: the whole loop on a fresh home, as a newcomer runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from chainflow.core.market import Timeframe
from chainflow.demo.market import HOUR_MS, build_demo_market
from chainflow.demo.view import DemoState, paper_panel, percentile, summary_lines
from chainflow.features.sets import get_feature_set


class TestDemoCommand:
    def test_replays_ticks_and_prints_summary_and_urls(self, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFLOW_")}
        env["COLUMNS"] = "140"
        home = tmp_path / "demo-home"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "chainflow",
                "demo",
                "--ticks",
                "150",
                "--speed",
                "max",
                "--symbols",
                "EURUSD,USDJPY",
                "--home",
                str(home),
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
        out = result.stdout
        assert result.returncode == 0, out + result.stderr
        assert re.search(r"model fx-default@\d+ \(lightgbm, M5\) (trained in|loaded)", out)
        # Nothing trained on the sample market beats its baselines: the demo says so and
        # that its model was promoted against its verdict, with the stored reason.
        assert re.search(r"verdict: does not beat .*: do not trade it", out), out
        assert "promoted against its verdict (demo: sample market, see verdict)" in out
        sent, acked = map(int, re.search(r"ticks: (\d+) sent, (\d+) acked", out).groups())
        assert sent == acked == 150
        received = int(re.search(r"signals: (\d+) received", out).group(1))
        assert received > 0  # every_tick: one per tick once the symbol's features are warm
        # The paper account and its attribution: the figures add up to the account P&L.
        equity = float(
            re.search(r"paper account: equity ([\d,.]+) · balance", out)[1].replace(",", "")
        )
        account_pnl = re.search(r"attribution: P&L .* = account P&L ([-+\d,.]+); hit rate", out)
        assert abs(equity - 10_000 - float(account_pnl[1].replace(",", ""))) < 0.011
        assert "╭─ paper account" in out  # the panel of the live view
        for path in (
            "/docs",
            "/api/v1/signals?",
            "/api/v1/market/bars?",
            "/metrics",
            "/ws/stream",
            "/api/v1/trading/paper",
            "/api/v1/trading/attribution",
        ):
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
            ["EURUSD.C01"],
            now_ms=int(time.time() * 1000),
            max_ticks=5,
            alias={"EURUSD.C01": "EURUSD"},
        )
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

    def test_paper_account_and_attribution_lines_and_panel(self) -> None:
        state = DemoState(total_ticks=0, symbols={})
        state.paper = {
            "account": {
                "equity": 10034.96,
                "balance": 9921.89,
                "unrealized_pnl": 113.07,
                "realized_pnl": -78.11,
                "open_positions": 1,
                "trades_count": 3,
                "halted": None,
            },
            "positions": [
                {
                    "symbol": "EURUSD",
                    "side": "sell",
                    "lots": 1.27,
                    "entry_price": 1.08611,
                    "stop_loss": 1.08683,
                    "take_profit": 1.08467,
                }
            ],
            "trades": [
                {
                    "symbol": "GBPUSD",
                    "side": "buy",
                    "lots": 0.81,
                    "entry_price": 1.27487,
                    "exit_price": 1.27405,
                    "pnl": -66.42,
                    "exit_reason": "order",
                }
            ],
        }
        state.attribution = {
            "total": {
                "pnl": 34.96,
                "realized": -78.11,
                "unrealized": 113.07,
                "closed_trades": 3,
                "hit_rate": 1 / 3,
            },
            "swaps": 0.0,
            "account_pnl": 34.96,
            "by_symbol": [
                {"key": "EURUSD", "pnl": 116.42, "hit_rate": 1.0},
                {"key": "GBPUSD", "pnl": -81.46, "hit_rate": 0.0},
            ],
        }
        text = "\n".join(summary_lines(state))
        assert (
            "paper account: equity 10,034.96 · balance 9,921.89 · open P&L +113.07 · "
            "realized P&L -78.11 · open positions 1 · trades 3"
        ) in text
        assert (
            "attribution: P&L +34.96 (realized -78.11, open +113.07) + swaps 0.00 = account "
            "P&L +34.96; hit rate 33% of 3 closed trades"
        ) in text
        assert "by symbol: EURUSD +116.42 (100% hits), GBPUSD -81.46 (0% hits)" in text
        console = Console(width=120, record=True)
        console.print(paper_panel(state.paper))
        panel = console.export_text()
        assert "open positions" in panel and "1.08611" in panel and "-66.42" in panel
