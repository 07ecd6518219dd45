"""Serve a started kernel over HTTP until SIGINT/SIGTERM, then stop it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import signal
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import uvicorn

from chainflow.bridge.ws_messages import MAX_FRAME_BYTES
from chainflow.core.errors import ConfigurationError
from chainflow.core.settings import Settings
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
T = TypeVar("T")
DEV_KEY_WARNING = (
    "warning: access tokens are signed with the public development key "
    "(CHAINFLOW_SECRET_KEY is unset); serving on loopback only"
)


def is_loopback_host(host: str) -> bool:
    """Return whether binding ``host`` listens on this machine's loopback interface only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_serving_key(settings: Settings, host: str) -> str | None:
    """Return the warning to print when tokens are signed with the development key, or
    ``None``; raise ``ConfigurationError`` when that key would serve beyond loopback.

    Anyone can sign tokens with the published development key, so a server using it
    (only possible with ``CHAINFLOW_ENV=dev``; settings refuse it elsewhere) must not be
    reachable from other machines.
    """
    if not settings.signs_with_dev_key:
        return None
    if not is_loopback_host(host):
        raise ConfigurationError(
            f"expected a loopback --host (127.0.0.1, ::1, localhost) or CHAINFLOW_SECRET_KEY "
            f"set; received host {host!r} with the public development key, which would let "
            "anyone sign access tokens"
        )
    return DEV_KEY_WARNING


class GracefulServer(uvicorn.Server):
    """A uvicorn server that, on a signal, returns instead of re-raising it.

    uvicorn re-raises the captured signal after its own shutdown; under ``asyncio.run``
    that cancels the caller before the kernel has stopped, so buffered state (open bars,
    the registry entry, the time-series writer) would be lost.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def run_serving(main: Coroutine[Any, Any, T]) -> T:
    """Run a serving coroutine on uvloop (libuv: cheaper sockets and callbacks), else asyncio."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it on Linux/macOS
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def tune_gc_for_serving() -> None:
    """Keep the cyclic garbage collector off the tick path's latency.

    A full collection scans every tracked object; with the services' state loaded that is
    a pause of tens to hundreds of milliseconds every few seconds under load. What exists
    once the server is up (code, models, pipelines) is moved to the permanent generation
    (``gc.freeze``) and young collections run every 50 000 allocations instead of 700.
    Reference counting still frees almost everything at once; cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


async def serve_kernel(kernel: Kernel, *, host: str, port: int) -> None:
    """Start ``kernel``, serve its app until a signal, then stop the kernel.

    Refuse (``ConfigurationError``) to serve beyond loopback with the development key.
    """
    check_serving_key(kernel.settings, host)
    await kernel.start()
    tune_gc_for_serving()
    try:
        config = uvicorn.Config(
            create_app(kernel),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
            ws_max_size=MAX_FRAME_BYTES,  # larger WebSocket messages close with 1009
            proxy_headers=False,  # the peer is the client unless AUTH_TRUST_FORWARDED_FOR
        )
        await GracefulServer(config).serve()
    finally:
        await kernel.stop()
