"""A backtest job's ``trade_log``: the engine's closed trades in the result, capped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainflow.backtest.api import run_backtest
from chainflow.backtest.control import JobControl
from chainflow.backtest.data import load_file
from chainflow.backtest.jobs import TRADE_LOG_LIMIT, plan_job, run_plan, trade_log
from chainflow.backtest.schemas import BacktestJobCreate
from tests.backtest.job_platform import BACKTEST, Platform

FIELDS = {
    "side",
    "size",
    "entry_ts",
    "entry_price",
    "exit_ts",
    "exit_price",
    "pnl",
    "commission",
    "swap",
    "exit_reason",
}


class TestTradeLog:
    def test_backtest_result_lists_the_engine_trades(self, sample: Path) -> None:
        bars = load_file(sample)
        plan = plan_job(BacktestJobCreate.model_validate(BACKTEST))
        result = run_plan(plan, bars, JobControl(), workers=1)
        expected = run_backtest(bars, "sma_crossover", {"fast": 10, "slow": 30})

        log = result["trade_log"]
        assert len(log) == result["trades"] == len(expected.trades) > 0
        assert result["trade_log_truncated"] is False
        for row, trade in zip(log, expected.trades, strict=True):
            assert set(row) == FIELDS
            assert row["side"] == trade.side in ("long", "short")
            assert (row["entry_ts"], row["exit_ts"]) == (trade.entry_ts, trade.exit_ts)
            assert row["entry_ts"] <= row["exit_ts"]
            assert row["entry_price"] == pytest.approx(trade.entry_price)
            assert row["exit_price"] == pytest.approx(trade.exit_price)
            assert row["pnl"] == pytest.approx(trade.pnl)
            assert row["size"] == pytest.approx(trade.size) and row["size"] > 0
            assert row["exit_reason"] == trade.exit_reason
        assert sum(row["pnl"] for row in log) == pytest.approx(
            result["final_equity"] - 10_000.0, abs=1e-6
        )
        json.dumps(result, allow_nan=False)  # stored and served as strict JSON

    def test_log_is_capped_oldest_first(self, sample: Path) -> None:
        trades = run_backtest(load_file(sample), "sma_crossover", {"fast": 2, "slow": 3}).trades
        assert len(trades) > 40
        capped = trade_log(trades, limit=40)
        assert len(capped["trade_log"]) == 40 and capped["trade_log_truncated"] is True
        assert [row["entry_ts"] for row in capped["trade_log"]] == [t.entry_ts for t in trades[:40]]
        assert trade_log(trades[:40], limit=40)["trade_log_truncated"] is False
        assert TRADE_LOG_LIMIT == 1_000

    async def test_served_with_the_job(self, platform: Platform) -> None:
        job = (await platform.post("free", BACKTEST)).json()
        done = await platform.finished("free", job["id"])
        result = done["result"]
        assert len(result["trade_log"]) == result["trades"] > 0
        assert set(result["trade_log"][0]) == FIELDS
        listed = await platform.http.get("/api/v1/backtests", headers=platform.auth("free"))
        assert all(item.get("result") is None for item in listed.json()["items"])
