"""``/api/v1/backtests`` on the embedded kernel: async jobs, tiers, quota, tenant isolation."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainflow.backtest.api import run_backtest
from chainflow.backtest.data import load_file
from chainflow.backtest.job_runner import INTERRUPTED_MESSAGE
from chainflow.backtest.repository import BacktestJobRepository
from chainflow.core.ids import TenantId
from chainflow.core.tenancy import TenantContext
from tests.backtest.job_platform import BACKTEST, Platform, error_of


class TestCreateBacktest:
    async def test_job_runs_to_the_engine_result(self, platform: Platform, sample: Path) -> None:
        created = await platform.post("free", BACKTEST)

        assert created.status_code == 202, created.text
        job = created.json()
        assert job["status"] in ("queued", "running") and job["progress"] == 0.0
        assert "result" not in job
        done = await platform.finished("free", job["id"])
        assert done["status"] == "succeeded" and done["progress"] == 1.0
        expected = run_backtest(load_file(sample), "sma_crossover", {"fast": 10, "slow": 30})
        result = done["result"]
        assert result["trades"] == len(expected.trades) > 0
        assert result["final_equity"] == pytest.approx(expected.final_equity)
        for key in (
            "return_pct",
            "sharpe",
            "max_drawdown_pct",
            "win_rate_pct",
            "profit_factor",
            "elapsed_s",
        ):
            assert key in result
        curve = result["equity_curve"]
        assert 2 <= len(curve["equity"]) <= 501 and len(curve["ts"]) == len(curve["equity"])
        assert curve["equity"][-1] == pytest.approx(expected.final_equity)

    async def test_from_and_to_bound_the_bars(self, platform: Platform, sample: Path) -> None:
        bars = load_file(sample)
        start, end = int(bars.ts[100]), int(bars.ts[1100])
        body = {**BACKTEST, "from": "2026-01-05T08:20:00Z", "to": end}
        assert start == 1_767_601_200_000  # 2026-01-05 08:20 UTC, the 101st M5 bar
        job = (await platform.post("free", body)).json()
        result = (await platform.finished("free", job["id"]))["result"]
        assert (result["bars"], result["from_ts"]) == (1000, start)
        assert result["to_ts"] == int(bars.ts[1099])

    async def test_list_shows_jobs_without_results(self, platform: Platform) -> None:
        job = (await platform.post("free", BACKTEST)).json()
        await platform.finished("free", job["id"])
        listed = await platform.http.get("/api/v1/backtests", headers=platform.auth("free"))
        assert listed.status_code == 200
        items = listed.json()["items"]
        assert [i["id"] for i in items] == [job["id"]] and items[0]["result"] is None

    async def test_invalid_request_is_refused_before_queueing(self, platform: Platform) -> None:
        answer = await platform.post("free", {**BACKTEST, "params": {"fast": 50, "slow": 20}})
        assert answer.status_code == 422
        assert "expected fast < slow" in error_of(answer)["message"]
        unknown = await platform.post("free", {**BACKTEST, "strategy": "magic"})
        assert error_of(unknown)["code"] == "invalid_backtest_request"

    async def test_missing_bars_are_refused_before_queueing(self, platform: Platform) -> None:
        answer = await platform.post("free", {**BACKTEST, "symbol": "GBPUSD"})
        assert answer.status_code == 422
        assert "expected stored GBPUSD M5 bars" in error_of(answer)["message"]
        listed = await platform.http.get("/api/v1/backtests", headers=platform.auth("free"))
        assert listed.json()["items"] == []


class TestTenancyAndTiers:
    async def test_another_tenant_gets_404(self, platform: Platform) -> None:
        job = (await platform.post("free", BACKTEST)).json()
        await platform.finished("free", job["id"])
        answer = await platform.http.get(
            f"/api/v1/backtests/{job['id']}", headers=platform.auth("other")
        )
        assert answer.status_code == 404
        assert error_of(answer)["code"] == "backtest_job_not_found"
        listed = await platform.http.get("/api/v1/backtests", headers=platform.auth("other"))
        assert listed.json()["items"] == []

    async def test_free_tier_cannot_optimize_or_walk_forward(self, platform: Platform) -> None:
        optimize = {**BACKTEST, "kind": "optimize", "grid": {"fast": [5, 10]}}
        walk = {**BACKTEST, "kind": "walkforward", "in_sample": 800, "out_of_sample": 400}
        for body in (optimize, walk):
            answer = await platform.post("free", body)
            assert answer.status_code == 403
            assert error_of(answer)["code"] == "feature_not_in_tier"

    async def test_daily_quota_is_enforced(self, platform: Platform) -> None:
        assert platform.kernel.users is not None
        async with platform.kernel.infra.database.unit_of_work(system=True) as uow:
            await platform.kernel.users.admin.set_limit_overrides(
                uow, platform.tenants["free"], {"backtests_per_day": 2}
            )
        await platform.relogin("free")  # a new session sees the new limits
        for _ in range(2):
            assert (await platform.post("free", BACKTEST)).status_code == 202

        answer = await platform.post("free", BACKTEST)

        assert answer.status_code == 429
        error = error_of(answer)
        assert error["code"] == "backtest_quota_exceeded"
        assert error["details"]["limit"] == 2 and int(answer.headers["Retry-After"]) >= 1
        await platform.kernel.backtest.idle()  # type: ignore[union-attr]


class TestOptimizeAndWalkForwardJobs:
    async def test_pro_tier_optimizes_with_a_heatmap(self, platform: Platform) -> None:
        body = {
            **BACKTEST,
            "kind": "optimize",
            "grid": {"fast": [5, 10]},
            "ranges": {"slow": {"low": 20, "high": 40, "step": 20}},
        }
        job = (await platform.post("pro", body)).json()
        done = await platform.finished("pro", job["id"])
        assert done["status"] == "succeeded", done
        result = done["result"]
        assert result["trials"] == 4 and result["best"]["params"] == result["results"][0]["params"]
        assert result["heatmap"]["x"] == "fast" and result["equity_curve"]["equity"]

    async def test_pro_tier_walks_forward(self, platform: Platform) -> None:
        body = {
            **BACKTEST,
            "kind": "walkforward",
            "grid": {"fast": [5, 10]},
            "in_sample": 800,
            "out_of_sample": 400,
        }
        job = (await platform.post("pro", body)).json()
        done = await platform.finished("pro", job["id"])
        assert done["status"] == "succeeded", done
        result = done["result"]
        assert result["windows"] == len(result["window_results"]) >= 2
        assert len(result["equity_curve"]["equity"]) <= 501

    async def test_ml_walk_forward_retrains_per_window(self, platform: Platform) -> None:
        body = {
            "kind": "walkforward",
            "symbol": "EURUSD",
            "timeframe": "M5",
            "strategy": "ml",
            "params": {"horizon": 6},
            "in_sample": 1000,
            "out_of_sample": 500,
        }
        job = (await platform.post("pro", body)).json()
        done = await platform.finished("pro", job["id"])
        assert done["status"] == "succeeded", done
        for window in done["result"]["window_results"]:
            assert window["training"]["label_end_ts"] <= window["is_to_ts"]
            assert window["is_to_ts"] < window["oos_from_ts"]
        refused = await platform.post("pro", {**body, "kind": "backtest"})
        assert refused.status_code == 422
        assert "expected only 'model' in params" in refused.json()["error"]["message"]

    async def test_ml_backtest_trades_the_registered_model(
        self, platform: Platform, tmp_path: Path
    ) -> None:
        from tests.ml.test_service import train_and_promote

        await train_and_promote(platform.kernel, tmp_path / "home", {})
        body = {"kind": "backtest", "symbol": "EURUSD", "timeframe": "M5", "strategy": "ml"}
        job = (await platform.post("free", body)).json()
        done = await platform.finished("free", job["id"])
        assert done["status"] == "succeeded", done
        result = done["result"]
        assert result["strategy"].startswith("ml") or result["engine"] == "event"
        assert result["bars"] > 0 and result["final_equity"] > 0
        assert {"trades", "return_pct", "sharpe", "max_drawdown_pct"} <= set(result)

        missing = {**body, "params": {"model": "nope@3"}}
        job = (await platform.post("free", missing)).json()
        done = await platform.finished("free", job["id"])
        assert done["status"] == "failed"
        assert "expected nope@3 in the model registry" in done["error"]


class TestRestart:
    async def test_unfinished_jobs_are_interrupted_on_start(self, platform: Platform) -> None:
        tenant = TenantContext(tenant_id=TenantId(platform.tenants["free"]))
        async with platform.kernel.infra.database.unit_of_work(tenant) as uow:
            row = await BacktestJobRepository(uow.session, tenant).create(
                {
                    "kind": "backtest",
                    "status": "running",
                    "progress": 0.3,
                    "symbol": "EURUSD",
                    "timeframe": "M5",
                    "strategy": "sma_crossover",
                    "request": BACKTEST,
                }
            )
            job_id = row.id
        service = platform.kernel.backtest
        assert service is not None
        await service.stop()
        await service.start()  # as a restarted process does

        done = await platform.finished("free", job_id)
        assert done["status"] == "interrupted" and done["error"] == INTERRUPTED_MESSAGE
        assert "resume" in INTERRUPTED_MESSAGE
