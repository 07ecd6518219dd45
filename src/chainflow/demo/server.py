"""An in-process ChainFlow server for ``chainflow demo`` and the tick→signal benchmark.

``DemoServer`` runs the kernel (all services, embedded storage under ``home``) and uvicorn on
a loopback port inside the caller's event loop. The helpers make what a first run needs:
a tenant with a user and an API key created through the public HTTP API, the production
model (``ensure_default_model``), and stored history bars so the features are warm.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from chainflow.bridge.api import MAX_FRAME_BYTES, AggregatedBar, persist_bars
from chainflow.core.ids import TenantId
from chainflow.core.settings import (
    BusSettings,
    CacheSettings,
    DatabaseSettings,
    HttpSettings,
    Settings,
    TimeSeriesSettings,
)
from chainflow.demo.model_bars import default_model_bars
from chainflow.ml.api import ModelNotFoundError, ensure_default_model, model_registry, verdict_of
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from chainflow.runtime.server import (
    GracefulServer,
    start_heap_freezer,
    stop_heap_freezer,
    tune_gc_for_serving,
)

UNLIMITED = {"ticks_per_second": 10_000_000, "websocket_connections": 1000, "cpu_share": 64.0}
"""Limit overrides of the demo tenant: the server, not the quota, sets the pace."""


class DemoSetupError(RuntimeError):
    """A step of the demo set-up failed; the message names the step and the answer."""


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """The demo tenant's credentials (the password and key are shown once)."""

    email: str
    password: str
    tenant_id: str
    user_id: str
    api_key: str
    access_token: str


@dataclass(frozen=True, slots=True)
class ModelReport:
    """The production model the server uses, and whether this run trained it."""

    ref: str
    family: str
    timeframe: str
    trained: bool
    seconds: float
    accuracy: float | None
    verdict: str = ""  # the training verdict's sentence
    forced: str | None = None  # the reason it was promoted against its verdict, if it was


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_settings(home: Path, port: int) -> Settings:
    """Return settings on embedded storage under ``home``, serving on 127.0.0.1:``port``."""
    return Settings(
        env="dev",
        home=home,
        services="all",
        secret_key=secrets.token_urlsafe(48),
        database=DatabaseSettings(url=None),
        timeseries=TimeSeriesSettings(url=None),
        cache=CacheSettings(url="memory://"),
        bus=BusSettings(url="memory://"),
        http=HttpSettings(host="127.0.0.1", port=port),
    )


class DemoServer:
    """The kernel and its HTTP/WebSocket server, running as a task of this event loop."""

    def __init__(self, home: Path, port: int | None = None, *, tune_gc: bool = False) -> None:
        """``tune_gc``: freeze the started heap (``tune_gc_for_serving``) — for a process
        that only serves (the demo, the benchmark), not for one that runs many kernels."""
        self.tune_gc = tune_gc
        self.home = home
        self.port = port or free_port()
        self.settings = demo_settings(home, self.port)
        self.kernel = Kernel(self.settings)
        self._server: GracefulServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._freezing: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def stopped(self) -> bool:
        """Whether the HTTP server has exited (e.g. on Ctrl-C while kept running)."""
        return self._task is None or self._task.done()

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start the kernel, then serve; return once the port accepts connections."""
        import uvicorn

        self.home.mkdir(parents=True, exist_ok=True)
        await self.kernel.start()
        if self.tune_gc:
            tune_gc_for_serving()
            self._freezing = start_heap_freezer(self.kernel)
        config = uvicorn.Config(
            create_app(self.kernel),
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            ws_max_size=MAX_FRAME_BYTES,
            proxy_headers=False,
        )
        self._server = GracefulServer(config)
        self._task = asyncio.create_task(self._server.serve(), name="demo-server")
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if self._task.done():
                await self.kernel.stop()
                error = self._task.exception()
                raise DemoSetupError(f"expected the server to start on port {self.port}; {error}")
            if time.monotonic() > deadline:
                await self.stop()
                raise DemoSetupError(f"expected the server to start within {timeout_s} s")
            await asyncio.sleep(0.02)

    async def wait(self) -> None:
        """Wait until the server exits (Ctrl-C or SIGTERM)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        """Stop serving, then stop the kernel (flushes open bars and the time-series writer)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await stop_heap_freezer(self._freezing)
        self._freezing = None
        await self.kernel.stop()


async def create_account(
    server: DemoServer,
    *,
    email: str,
    password: str | None = None,
    tier: str = "enterprise",
    limits: dict[str, Any] | None = None,
    scopes: tuple[str, ...] = ("ticks:write", "signals:read", "read"),
) -> DemoAccount:
    """Register a user (and tenant) over HTTP, lift its limits, log in, make an API key.

    ``limits``: the tenant's limit overrides; ``None`` lifts them (``UNLIMITED``), ``{}``
    keeps the tier's own limits (the benchmark's pro tenants).
    """
    password = password or "Cf-" + secrets.token_urlsafe(12) + "-7a"
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        registered = _json(
            await http.post("/api/v1/auth/register", json={"email": email, "password": password}),
            201,
            "register the demo user",
        )
        tenant_id = str(registered["tenant_id"])
        users = server.kernel.users
        if users is None:
            raise DemoSetupError("expected the users service in this process; it is not enabled")
        async with server.kernel.infra.database.unit_of_work(system=True) as uow:
            await users.admin.change_tier(uow, None, tenant_id, tier)
            overrides = UNLIMITED if limits is None else limits
            await users.admin.set_limit_overrides(uow, tenant_id, dict(overrides))
        token = _json(
            await http.post("/api/v1/auth/login", json={"email": email, "password": password}),
            200,
            "log in as the demo user",
        )["access_token"]
        key = _json(
            await http.post(
                "/api/v1/api-keys",
                json={"name": "demo terminal", "scopes": list(scopes)},
                headers={"Authorization": f"Bearer {token}"},
            ),
            201,
            "create the demo API key",
        )["key"]
    return DemoAccount(
        email=email,
        password=password,
        tenant_id=tenant_id,
        user_id=str(registered["user_id"]),
        api_key=str(key),
        access_token=str(token),
    )


async def set_risk_tolerance(server: DemoServer, account: DemoAccount, tolerance: str) -> None:
    """Set the tenant's risk tolerance (``PUT /api/v1/tenant/trading-settings``)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        _json(
            await http.put(
                "/api/v1/tenant/trading-settings",
                json={"risk_tolerance": tolerance},
                headers={"Authorization": f"Bearer {account.access_token}"},
            ),
            200,
            f"set the risk tolerance to {tolerance!r}",
        )


async def ensure_model(server: DemoServer) -> ModelReport:
    """Return the production model, training and promoting ``fx-default`` if there is none."""
    kernel = server.kernel
    registry = model_registry(kernel.settings, kernel.infra.database, kernel.clock)
    async with kernel.infra.database.unit_of_work(system=True, read_only=True) as uow:
        try:
            await registry.production(uow, kernel.settings.ml.model)
            existed = True
        except ModelNotFoundError:
            existed = False
    began = time.perf_counter()
    version = await ensure_default_model(kernel.infra.database, registry, default_model_bars)
    seconds = time.perf_counter() - began
    trained = not existed
    return ModelReport(
        ref=version.ref,
        family=version.family,
        timeframe=version.timeframe,
        trained=trained,
        seconds=seconds,
        accuracy=_accuracy(version.metrics),
        verdict=verdict_of(version.metrics).sentence,
        forced=(version.promotion_override or {}).get("reason"),
    )


async def store_history(server: DemoServer, tenant_id: str, bars: tuple[AggregatedBar, ...]) -> int:
    """Store ``bars`` as the tenant's history (what the features warm up on)."""
    return await persist_bars(server.kernel.infra.timeseries, TenantId(tenant_id), bars)


def _accuracy(metrics: dict[str, Any]) -> float | None:
    for key in ("accuracy", "oos_accuracy", "test_accuracy"):
        value = metrics.get(key)
        if isinstance(value, int | float):
            return float(value)
    for value in metrics.values():  # nested, e.g. {"model": {"accuracy": ...}}
        if isinstance(value, dict):
            found = _accuracy(value)
            if found is not None:
                return found
    return None


def _json(response: httpx.Response, status: int, step: str) -> dict[str, Any]:
    if response.status_code != status:
        raise DemoSetupError(
            f"expected HTTP {status} to {step}; received {response.status_code} "
            f"{response.text[:300]}"
        )
    body = response.json()
    if not isinstance(body, dict):
        raise DemoSetupError(f"expected a JSON object to {step}; received {body!r:.200}")
    return body
