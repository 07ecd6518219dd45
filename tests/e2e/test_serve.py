"""``chainflow serve`` as a user runs it: a real process, real HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from chainflow.bridge.importers import import_file
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.core.settings import DEV_SECRET_KEY
from chainflow.demo.sample_data import SampleMarketConfig
from chainflow.demo.sample_files import SampleFileKind, write_sample_files
from chainflow.runtime.kernel import Kernel
from chainflow.runtime.server import DEV_KEY_WARNING
from tests.fixtures.processes import free_port, running_server, server_process
from tests.fixtures.settings import embedded_settings, register_embedded_user

EMAIL = "serve@example.com"
PASSWORD = "Correct-Horse-77"
TEN_YEARS_S = 10 * 365 * 86_400
SIGTERM_EXIT_LIMIT_S = 15.0
# 100 x 1000 = 100,000 combinations on 1,728 bars: minutes of CPU when left to run.
BIG_OPTIMIZATION = {
    "kind": "optimize",
    "symbol": "EURUSD",
    "timeframe": "M5",
    "strategy": "sma_crossover",
    "ranges": {
        "fast": {"low": 2, "high": 101, "step": 1},
        "slow": {"low": 120, "high": 1119, "step": 1},
    },
}


def login(base: str) -> dict[str, str]:
    answer = httpx.post(base + "/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def serve_log(home: Path) -> str:
    return "\n".join(p.read_text() for p in home.parent.glob("serve-*.log"))


def prepare_pro_tenant_with_bars(home: Path, tmp_path: Path) -> None:
    """Register ``EMAIL`` on the pro tier with the sample's EURUSD M5 bars (no server)."""
    write_sample_files(
        SampleMarketConfig(symbols=("EURUSD",), days=8),
        tmp_path,
        kinds=(SampleFileKind.MT5_BARS,),
        timeframe=Timeframe.M5,
    )
    register_embedded_user(home, EMAIL, PASSWORD)

    async def upgrade_and_import() -> None:
        kernel = Kernel(embedded_settings(home))
        await kernel.start()
        try:
            assert kernel.users is not None
            async with kernel.infra.database.unit_of_work(system=True) as uow:
                tenant_id = await kernel.users.admin.tenant_id_for_email(uow, EMAIL)
                await kernel.users.admin.change_tier(uow, None, tenant_id, "pro")
            await import_file(
                kernel.infra.timeseries,
                TenantId(tenant_id),
                tmp_path / "EURUSD_M5.tsv",
                "EURUSD",
                "mt5-bars",
                Timeframe.M5,
            )
        finally:
            await kernel.stop()

    asyncio.run(upgrade_and_import())


class TestServeEmbedded:
    def test_health_ready_metrics_with_nothing_else_running(self, tmp_path: Path) -> None:
        with running_server(tmp_path / "home") as base:
            assert httpx.get(base + "/health").status_code == 200
            ready = httpx.get(base + "/ready")
            assert ready.status_code == 200, ready.text
            checks = ready.json()["checks"]
            assert {c["backend"] for c in checks.values()} >= {"sqlite", "duckdb", "memory"}
            metrics = httpx.get(base + "/metrics")
            assert metrics.status_code == 200
            assert "# TYPE chainflow_http_requests_total counter" in metrics.text
            assert httpx.get(base + "/openapi.json").json()["info"]["title"] == "ChainFlow"
        assert (tmp_path / "home" / "chainflow.db").exists()


class TestDevelopmentKey:
    def test_beyond_loopback_without_a_key_is_refused(self, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFLOW_")}
        env["CHAINFLOW_HOME"] = str(tmp_path / "home")
        command = [
            sys.executable,
            "-m",
            "chainflow",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
        ]

        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

        assert done.returncode == 2, done.stdout + done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "expected a loopback --host" in lines[0]
        assert "'0.0.0.0'" in lines[0] and "CHAINFLOW_SECRET_KEY" in lines[0]
        assert not (tmp_path / "home" / "chainflow.db").exists()  # refused before starting

    def test_loopback_warns_and_a_ten_year_token_is_refused(self, tmp_path: Path) -> None:
        home = tmp_path / "home"
        register_embedded_user(home, EMAIL, PASSWORD)
        with running_server(home) as base:
            issued = login(base)["Authorization"].removeprefix("Bearer ")
            claims: dict[str, Any] = jwt.decode(issued, options={"verify_signature": False})

            def forged(lifetime_s: int) -> dict[str, str]:
                payload = {**claims, "exp": claims["iat"] + lifetime_s}
                token = jwt.encode(payload, DEV_SECRET_KEY, algorithm="HS256")
                return {"Authorization": f"Bearer {token}"}

            ten_years = httpx.get(base + "/api/v1/users/me", headers=forged(TEN_YEARS_S))
            usual = httpx.get(base + "/api/v1/users/me", headers=forged(900))

            assert ten_years.status_code == 401
            assert ten_years.json()["error"]["code"] == "invalid_token"
            assert f"claiming {TEN_YEARS_S} s" in ten_years.json()["error"]["message"]
            assert usual.status_code == 200  # the same claims within the lifetime pass
        assert DEV_KEY_WARNING in serve_log(home)


class TestShutdown:
    def test_sigterm_interrupts_a_big_optimization_and_exits(self, tmp_path: Path) -> None:
        home = tmp_path / "home"
        prepare_pro_tenant_with_bars(home, tmp_path)
        with server_process(home) as (base, process):
            headers = login(base)
            created = httpx.post(base + "/api/v1/backtests", json=BIG_OPTIMIZATION, headers=headers)
            assert created.status_code == 202, created.text
            job_path = f"/api/v1/backtests/{created.json()['id']}"
            job_url = base + job_path
            deadline = time.monotonic() + 120
            while httpx.get(job_url, headers=headers).json()["progress"] == 0:
                assert time.monotonic() < deadline, "the job never reported progress"
                time.sleep(0.1)

            process.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            try:
                process.wait(timeout=SIGTERM_EXIT_LIMIT_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"chainflow serve still ran {SIGTERM_EXIT_LIMIT_S} s after SIGTERM")
            assert process.returncode == 0
            assert time.monotonic() - sent < SIGTERM_EXIT_LIMIT_S
        with running_server(home) as base:
            job = httpx.get(base + job_path, headers=login(base))
            assert job.status_code == 200, job.text
            body = job.json()
            assert body["status"] == "interrupted"
            assert 0 < body["checkpoint"]["done"] < body["checkpoint"]["total"] == 100_000
