"""``open_hub`` with its ASGI app at hand: requests from other client addresses, and the
app served by a real uvicorn on loopback in the test's own event loop (WebSockets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from chainflow.core.clock import Clock
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from tests.fixtures.processes import free_port
from tests.fixtures.settings import embedded_settings
from tests.notify.hub import USER_PASSWORD, Hub, eventually, log_in, notify_settings
from tests.notify.peers.smtp import SmtpServer


@asynccontextmanager
async def open_app_hub(
    home: Path, smtp: SmtpServer, *, clock: Clock | None = None, **notify: Any
) -> AsyncIterator[tuple[Hub, FastAPI]]:
    """Start the kernel, register and sign in ``ana@example.com`` (from 127.0.0.1); yield
    the hub and its app."""
    settings = embedded_settings(home, notify=notify_settings(smtp, **notify))
    kernel = Kernel(settings, clock=clock)
    app = create_app(kernel)
    await kernel.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            credentials = {"email": "ana@example.com", "password": USER_PASSWORD}
            registered = await http.post("/api/v1/auth/register", json=credentials)
            assert registered.status_code == 201, registered.text
            await eventually(lambda: len(smtp.sink.messages) == 1)  # the verification
            smtp.sink.messages.clear()
            await log_in(http, credentials)
            body = registered.json()
            yield Hub(http, kernel, body["tenant_id"], body["user_id"], credentials["email"]), app
    finally:
        await kernel.stop()


async def sign_in_from(app: FastAPI, email: str, ip: str, agent: str) -> None:
    """Sign in as ``email`` from the client address ``ip`` with the user agent ``agent``."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.post(
            "/api/v1/auth/login",
            json={"email": email, "password": USER_PASSWORD},
            headers={"User-Agent": agent},
        )
        assert answer.status_code == 200, answer.text


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in this event loop; yield its
    ``ws://`` base URL (the kernel is already running: the lifespan only records it)."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
