"""An embedded kernel behind an HTTP client, with tenants on each tier, for the job tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from chainflow.backtest.service import BacktestService
from chainflow.bridge.importers import import_file
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.core.settings import BacktestSettings
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from tests.fixtures.settings import embedded_settings

PASSWORD = "Backtest-Jobs-2026!"
BACKTEST = {
    "symbol": "EURUSD",
    "timeframe": "M5",
    "strategy": "sma_crossover",
    "params": {"fast": 10, "slow": 30},
}
WAIT_LIMIT_S = 120.0  # a guard against a hung test, not a timing assertion


@dataclass
class Platform:
    http: httpx.AsyncClient
    kernel: Kernel
    tokens: dict[str, str]
    tenants: dict[str, str]

    @property
    def service(self) -> BacktestService:
        assert self.kernel.backtest is not None
        return self.kernel.backtest

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def post(self, who: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post("/api/v1/backtests", json=body, headers=self.auth(who))

    async def read(self, who: str, job_id: str) -> dict[str, Any]:
        answer = await self.http.get(f"/api/v1/backtests/{job_id}", headers=self.auth(who))
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def finished(self, who: str, job_id: str) -> dict[str, Any]:
        await asyncio.wait_for(self.service.idle(), WAIT_LIMIT_S)
        return await self.read(who, job_id)

    async def read_until(
        self, who: str, job_id: str, done: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """Read the job every 20 ms until ``done(job)``; fail after ``WAIT_LIMIT_S``."""

        async def poll() -> dict[str, Any]:
            while not done(job := await self.read(who, job_id)):
                await asyncio.sleep(0.02)
            return job

        return await asyncio.wait_for(poll(), WAIT_LIMIT_S)

    async def relogin(self, who: str) -> None:
        """Log in again: a new session sees changed tier limits."""
        credentials = {"email": f"{who}@example.com", "password": PASSWORD}
        login = await self.http.post("/api/v1/auth/login", json=credentials)
        self.tokens[who] = login.json()["access_token"]


@asynccontextmanager
async def open_platform(
    home: Path, sample: Path, backtest: BacktestSettings | None = None
) -> AsyncIterator[Platform]:
    """Start a kernel under ``home``; tenants ``free``, ``pro`` and ``other`` (free, no bars)."""
    config = backtest or BacktestSettings(checkpoint_interval_s=0.5)
    settings = embedded_settings(home, backtest=config)
    kernel = Kernel(settings)
    app = create_app(kernel)
    await kernel.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            tokens, tenants = {}, {}
            for who in ("free", "pro", "other"):
                credentials = {"email": f"{who}@example.com", "password": PASSWORD}
                registered = await http.post("/api/v1/auth/register", json=credentials)
                assert registered.status_code == 201, registered.text
                tenants[who] = registered.json()["tenant_id"]
                if who == "pro":
                    assert kernel.users is not None
                    async with kernel.infra.database.unit_of_work(system=True) as uow:
                        await kernel.users.admin.change_tier(uow, None, tenants[who], "pro")
                login = await http.post("/api/v1/auth/login", json=credentials)
                tokens[who] = login.json()["access_token"]
                if who != "other":
                    await import_file(
                        kernel.infra.timeseries,
                        TenantId(tenants[who]),
                        sample,
                        "EURUSD",
                        "mt5-bars",
                        Timeframe.M5,
                    )
            yield Platform(http, kernel, tokens, tenants)
    finally:
        await kernel.stop()


def error_of(answer: httpx.Response) -> dict[str, Any]:
    body = answer.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    return body["error"]
