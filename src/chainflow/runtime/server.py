"""Serve a started kernel over HTTP until SIGINT/SIGTERM, then stop it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import uvicorn

from chainflow.bridge.ws_messages import MAX_FRAME_BYTES
from chainflow.core.errors import ConfigurationError
from chainflow.core.settings import Settings
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from chainflow.runtime.local_admin import LOCAL_PREFIX, build_local_admin_router
from chainflow.runtime.server_file import new_local_token, remove_server_file, write_server_file

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
    the registry entry, the time-series writer) would be lost. ``on_listening`` is called
    with the bound port once the sockets listen.
    """

    def __init__(
        self, config: uvicorn.Config, on_listening: Callable[[int], None] | None = None
    ) -> None:
        super().__init__(config)
        self._on_listening = on_listening

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_listening is not None:
            self._on_listening(self._bound_port())

    def _bound_port(self) -> int:
        for server in self.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.config.port

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


# A worker thread running Python (a feature rebuild, a store write's row conversion) holds
# the GIL until the interpreter's switch interval asks it to let go: 5 ms by default, paid
# by the event loop each time it wants the GIL back (after every socket wait). 0.5 ms keeps
# a tick's answer from queueing behind those threads.
SERVING_SWITCH_INTERVAL_S = 0.0005


def tune_gc_for_serving() -> None:
    """Keep the cyclic garbage collector and worker threads off the tick path's latency.

    A full collection scans every tracked object; with the services' state loaded that is
    a pause of tens to hundreds of milliseconds every few seconds under load. What exists
    once the server is up (code, models, pipelines) is moved to the permanent generation
    (``gc.freeze``) and young collections run every 50 000 allocations instead of 700.
    Reference counting still frees almost everything at once; cycles are still collected.
    The GIL's switch interval drops to ``SERVING_SWITCH_INTERVAL_S``.
    """
    sys.setswitchinterval(SERVING_SWITCH_INTERVAL_S)
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
    home = kernel.settings.home
    token = new_local_token()
    try:
        app = create_app(kernel)
        owns_home = kernel.users is not None
        if owns_home:  # the operator's CLI names tenants by e-mail: needs users here
            app.include_router(build_local_admin_router(kernel, token), prefix=LOCAL_PREFIX)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
            ws_max_size=MAX_FRAME_BYTES,  # larger WebSocket messages close with 1009
            proxy_headers=False,  # the peer is the client unless AUTH_TRUST_FORWARDED_FOR
        )

        def announce(bound_port: int) -> None:
            if owns_home:
                write_server_file(home, url=local_url(host, bound_port), token=token)

        await GracefulServer(config, announce).serve()
    finally:
        remove_server_file(home, token)
        await kernel.stop()


def local_url(host: str, port: int) -> str:
    """Return the URL a process on this machine reaches a server bound to ``host`` at."""
    bare = host.strip().strip("[]")
    if bare in ("", "0.0.0.0", "::"):  # noqa: S104 - every interface includes loopback
        bare = "127.0.0.1"
    if ":" in bare:
        return f"http://[{bare}]:{port}"
    return f"http://{bare}:{port}"
