"""A job's life after it is accepted: cancelled, interrupted by a shutdown, resumed; and the
tier's cap on a job's size (combinations x bars)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chainflow.core.settings import BacktestSettings
from tests.backtest.job_platform import BACKTEST, Platform, error_of, open_platform

SAMPLE_BARS = 1728  # M5 bars of the 8-day sample (weekdays)


def optimization(fast: tuple[int, int], slow: tuple[int, int]) -> dict[str, Any]:
    ranges = {
        name: {"low": low, "high": high, "step": 1}
        for name, (low, high) in (("fast", fast), ("slow", slow))
    }
    return {**BACKTEST, "kind": "optimize", "ranges": ranges}


# 100 x 1000 = 100,000 combinations: minutes of CPU, far longer than any test waits.
BIG = optimization((2, 101), (120, 1119))
# 20 x 150 = 3,000 combinations: seconds, long enough to stop it on the way.
MEDIUM = optimization((2, 21), (50, 199))


def has_progress(job: dict[str, Any]) -> bool:
    return job["status"] == "running" and job["progress"] > 0


def without_timing(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "elapsed_s"}


class TestCancelBacktest:
    async def test_running_optimization_stops_as_cancelled(self, platform: Platform) -> None:
        job = (await platform.post("pro", BIG)).json()
        await platform.read_until("pro", job["id"], has_progress)

        answer = await platform.http.delete(
            f"/api/v1/backtests/{job['id']}", headers=platform.auth("pro")
        )

        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "cancelled"
        done = await platform.finished("pro", job["id"])  # returns once the job stopped
        assert done["status"] == "cancelled" and done.get("result") is None
        checkpoint = done["checkpoint"]
        assert checkpoint["unit"] == "trials" and checkpoint["total"] == 100_000
        assert 0 < checkpoint["done"] < 100_000
        assert 0 < done["progress"] < 1

    async def test_queued_job_is_cancelled_before_it_runs(self, platform: Platform) -> None:
        first = (await platform.post("pro", BIG)).json()
        second = (await platform.post("pro", BACKTEST)).json()  # waits for the only thread

        answer = await platform.http.delete(
            f"/api/v1/backtests/{second['id']}", headers=platform.auth("pro")
        )
        await platform.http.delete(f"/api/v1/backtests/{first['id']}", headers=platform.auth("pro"))

        assert answer.status_code == 202 and answer.json()["status"] == "cancelled"
        done = await platform.finished("pro", second["id"])
        assert done["status"] == "cancelled" and done["started_at"] is None

    async def test_cancelling_again_answers_200_and_a_finished_job_409(
        self, platform: Platform
    ) -> None:
        big = (await platform.post("pro", BIG)).json()
        path = f"/api/v1/backtests/{big['id']}"
        assert (await platform.http.delete(path, headers=platform.auth("pro"))).status_code == 202
        again = await platform.http.delete(path, headers=platform.auth("pro"))
        assert again.status_code == 200 and again.json()["status"] == "cancelled"
        small = (await platform.post("free", BACKTEST)).json()
        await platform.finished("free", small["id"])

        finished = await platform.http.delete(
            f"/api/v1/backtests/{small['id']}", headers=platform.auth("free")
        )

        assert finished.status_code == 409
        error = error_of(finished)
        assert error["code"] == "backtest_job_finished" and "succeeded" in error["message"]

    async def test_another_tenants_job_is_not_found(self, platform: Platform) -> None:
        job = (await platform.post("free", BACKTEST)).json()
        answer = await platform.http.delete(
            f"/api/v1/backtests/{job['id']}", headers=platform.auth("other")
        )
        assert answer.status_code == 404
        assert error_of(answer)["code"] == "backtest_job_not_found"
        await platform.finished("free", job["id"])


class TestStop:
    async def test_stop_interrupts_a_running_job_with_its_progress_saved(
        self, platform: Platform
    ) -> None:
        job = (await platform.post("pro", BIG)).json()
        await platform.read_until("pro", job["id"], has_progress)

        await platform.service.stop()  # what a SIGTERM does
        await platform.service.start()  # the next process

        done = await platform.read("pro", job["id"])
        assert done["status"] == "interrupted" and "resume" in done["error"]
        assert 0 < done["checkpoint"]["done"] < done["checkpoint"]["total"] == 100_000
        assert done["progress"] > 0

    async def test_stop_stops_waiting_after_its_timeout(self, tmp_path: Path, sample: Path) -> None:
        impatient = BacktestSettings(checkpoint_interval_s=0.5, stop_timeout_s=0)
        async with open_platform(tmp_path / "home", sample, impatient) as platform:
            job = (await platform.post("pro", BIG)).json()
            await platform.read_until("pro", job["id"], has_progress)

            await platform.service.stop()  # gives up at once: the job is still computing

            done = await platform.read("pro", job["id"])
            assert done["status"] == "interrupted" and done["progress"] > 0
            await platform.service.start()


class TestResume:
    async def test_resumed_job_ends_with_the_uninterrupted_result(self, platform: Platform) -> None:
        job = (await platform.post("pro", MEDIUM)).json()
        await platform.read_until("pro", job["id"], has_progress)
        await platform.service.stop()
        await platform.service.start()
        stopped = await platform.read("pro", job["id"])
        assert stopped["status"] == "interrupted"
        saved = stopped["checkpoint"]["done"]
        assert 0 < saved < stopped["checkpoint"]["total"] == 3_000

        answer = await platform.http.post(
            f"/api/v1/backtests/{job['id']}/resume", headers=platform.auth("pro")
        )

        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "queued"
        resumed = await platform.finished("pro", job["id"])
        assert resumed["status"] == "succeeded", resumed
        assert resumed["progress"] == 1.0 and resumed["checkpoint"] is None
        whole = (await platform.post("pro", MEDIUM)).json()
        uninterrupted = await platform.finished("pro", whole["id"])
        assert uninterrupted["status"] == "succeeded"
        assert without_timing(resumed["result"]) == without_timing(uninterrupted["result"])
        assert resumed["result"]["trials"] == 3_000

    async def test_cancelled_job_resumes_from_the_start_when_nothing_was_saved(
        self, platform: Platform
    ) -> None:
        small = {**BACKTEST, "kind": "optimize", "grid": {"fast": [5, 10], "slow": [30, 40]}}
        job = (await platform.post("pro", small)).json()
        await platform.http.delete(f"/api/v1/backtests/{job['id']}", headers=platform.auth("pro"))
        await platform.finished("pro", job["id"])

        answer = await platform.http.post(
            f"/api/v1/backtests/{job['id']}/resume", headers=platform.auth("pro")
        )

        assert answer.status_code == 202
        resumed = await platform.finished("pro", job["id"])
        whole = await platform.finished("pro", (await platform.post("pro", small)).json()["id"])
        assert resumed["status"] == whole["status"] == "succeeded"
        assert without_timing(resumed["result"]) == without_timing(whole["result"])

    async def test_only_stopped_jobs_resume(self, platform: Platform) -> None:
        job = (await platform.post("free", BACKTEST)).json()
        await platform.finished("free", job["id"])

        answer = await platform.http.post(
            f"/api/v1/backtests/{job['id']}/resume", headers=platform.auth("free")
        )

        assert answer.status_code == 409
        error = error_of(answer)
        assert error["code"] == "backtest_job_not_resumable" and "succeeded" in error["message"]


class TestJobSizeLimit:
    async def test_tier_caps_combinations_times_bars(self, platform: Platform) -> None:
        assert platform.kernel.users is not None
        async with platform.kernel.infra.database.unit_of_work(system=True) as uow:
            await platform.kernel.users.admin.set_limit_overrides(
                uow, platform.tenants["pro"], {"backtest_combination_bars": 10 * SAMPLE_BARS}
            )
        await platform.relogin("pro")
        ten = {**BACKTEST, "kind": "optimize", "grid": {"fast": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}}
        eleven = {**ten, "grid": {"fast": [*ten["grid"]["fast"], 12]}}  # type: ignore[index]

        accepted = await platform.post("pro", ten)
        refused = await platform.post("pro", eleven)

        assert accepted.status_code == 202, accepted.text
        assert refused.status_code == 403
        error = error_of(refused)
        assert error["code"] == "backtest_too_large"
        product = 11 * SAMPLE_BARS
        assert f"11 combinations x {SAMPLE_BARS} bars = {product}" in error["message"]
        assert f"at most {10 * SAMPLE_BARS} combination-bars" in error["message"]
        assert error["details"] == {
            "combinations": 11,
            "bars": SAMPLE_BARS,
            "windows": None,
            "combination_bars": product,
            "limit": 10 * SAMPLE_BARS,
            "tier": "pro",
        }
        await platform.finished("pro", accepted.json()["id"])

    async def test_walk_forward_counts_the_bars_of_every_window(self, platform: Platform) -> None:
        body = {
            **BACKTEST,
            "kind": "walkforward",
            "grid": {"fast": [5, 10]},
            "in_sample": 800,
            "out_of_sample": 400,
        }
        assert platform.kernel.users is not None
        async with platform.kernel.infra.database.unit_of_work(system=True) as uow:
            await platform.kernel.users.admin.set_limit_overrides(
                uow, platform.tenants["pro"], {"backtest_combination_bars": 1}
            )
        await platform.relogin("pro")

        refused = await platform.post("pro", body)

        details = error_of(refused)["details"]
        # Two windows of 800 + 400 bars each (the 1,728 bars hold two whole windows).
        assert (details["combinations"], details["windows"]) == (2, 2)
        assert details["bars"] == 2 * 1200 and details["combination_bars"] == 2 * 2 * 1200
