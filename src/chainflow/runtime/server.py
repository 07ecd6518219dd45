"""Serve a started kernel over HTTP until SIGINT/SIGTERM, then stop it cleanly."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

import uvicorn

from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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


async def serve_kernel(kernel: Kernel, *, host: str, port: int) -> None:
    """Start ``kernel``, serve its app until a signal, then stop the kernel."""
    await kernel.start()
    try:
        config = uvicorn.Config(
            create_app(kernel),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        await GracefulServer(config).serve()
    finally:
        await kernel.stop()
