"""Serve a started kernel over HTTP until SIGINT/SIGTERM, then drain and stop it.

The first signal begins the drain (``runtime.drain``): new requests get 503, open
WebSockets finish what they have read and close with 1012. Once nothing is open (or
``CHAINFLOW_SHUTDOWN_GRACE_S`` has passed) uvicorn stops listening, the in-process bus
delivers what it queued and the kernel stops its services in reverse layer order, all
within the same grace period; past it the process exits anyway, logging what it abandoned
(``shutdown_abandoned``, exit code 1). A second signal ends the drain at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import uvicorn

from chainflow.bridge.ws_messages import MAX_FRAME_BYTES
from chainflow.core.errors import ConfigurationError
from chainflow.core.logging import get_logger
from chainflow.core.settings import Settings
from chainflow.runtime.app import create_app
from chainflow.runtime.drain import Drain
from chainflow.runtime.heap_freezer import BuildProgress, HeapFreezer
from chainflow.runtime.kernel import Kernel
from chainflow.runtime.local_admin import LOCAL_PREFIX, build_local_admin_router
from chainflow.runtime.server_file import new_local_token, remove_server_file, write_server_file

log = get_logger("chainflow.runtime.server")

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_ABANDONED = 1  # the grace period ended before the stop did
MIN_CLOSE_WAIT_S = 1  # s uvicorn may wait for closing sockets, even past the grace
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
    """A uvicorn server that, on a signal, drains and then returns instead of re-raising.

    uvicorn re-raises the captured signal after its own shutdown; under ``asyncio.run``
    that cancels the caller before the kernel has stopped, so buffered state (open bars,
    the registry entry, the time-series writer) would be lost. With ``drain``, the first
    signal begins it and the server stops listening once it is idle or out of time; a
    second signal (or a signal without ``drain``) stops at once, as uvicorn does.
    ``on_listening`` is called with the bound port once the sockets listen.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        on_listening: Callable[[int], None] | None = None,
        *,
        drain: Drain | None = None,
        on_drain: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(config)
        self._on_listening = on_listening
        self._drain = drain
        self._on_drain = on_drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain_requested = False
        self._draining: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[Any] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)
        if self.started and self._on_listening is not None:
            self._on_listening(self._bound_port())

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self._drain is None or self._loop is None or self._drain_requested:
            super().handle_exit(sig, frame)
            self.force_exit = self.force_exit or self._drain_requested  # a second signal
            return
        if self.should_exit:  # uvicorn is already stopping: nothing left to drain
            return
        self._drain_requested = True
        # A signal handler interrupts the loop anywhere: the drain starts on the loop.
        self._loop.call_soon_threadsafe(self._begin_drain)

    def _begin_drain(self) -> None:
        assert self._drain is not None  # only scheduled with a drain
        self._drain.begin()  # from here on new work is refused
        self._draining = asyncio.create_task(self._drain_then_exit(), name="server.drain")

    async def _drain_then_exit(self) -> None:
        drain = self._drain
        assert drain is not None  # only scheduled with a drain
        if self._on_drain is not None:
            try:
                await asyncio.wait_for(self._on_drain(), timeout=max(drain.remaining_s(), 0.1))
            except Exception as error:  # the drain goes on: the registry entry then expires
                log.warning("shutdown_withdraw_failed", error=type(error).__name__)
        if await drain.wait_idle():
            log.info("shutdown_drained", drain_s=round(drain.elapsed_s(), 3))
        else:
            log.warning(
                "shutdown_drain_abandoned",
                drain_s=round(drain.elapsed_s(), 3),
                open_websockets=drain.open_websockets,
                open_requests=drain.open_requests,
            )
        # uvicorn closes what is left (WebSockets with 1012) and waits for its tasks.
        self.config.timeout_graceful_shutdown = max(int(drain.remaining_s()), MIN_CLOSE_WAIT_S)
        self.should_exit = True

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


def start_heap_freezer(kernel: Kernel) -> asyncio.Task[None]:
    """Freeze the heap again after each settled wave of state builds (``HeapFreezer``):
    the features pipelines and the tick path's key states a terminal's hello builds."""
    sources: list[BuildProgress] = []
    features = kernel.features
    if features is not None:
        sources.append(BuildProgress(lambda: features.stats.rebuilds, lambda: features.warming))
    trading = kernel.trading
    if trading is not None:
        tick_path = trading.tick_path
        sources.append(BuildProgress(lambda: tick_path.stats.rebuilds, lambda: tick_path.building))
    return asyncio.create_task(HeapFreezer(sources).run(), name="heap-freezer")


async def stop_heap_freezer(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def serve_kernel(kernel: Kernel, *, host: str, port: int) -> None:
    """Start ``kernel``, serve its app until a signal, then stop the kernel.

    Refuse (``ConfigurationError``) to serve beyond loopback with the development key.
    """
    check_serving_key(kernel.settings, host)
    await kernel.start()
    tune_gc_for_serving()
    freezing = start_heap_freezer(kernel)
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

        # On a signal the process leaves the registry first, so that gateways of other
        # processes stop routing to it while it drains.
        server = GracefulServer(config, announce, drain=kernel.drain, on_drain=kernel.withdraw)
        await server.serve()
    finally:
        await stop_heap_freezer(freezing)
        remove_server_file(home, token)
        if not await stop_within_grace(kernel):
            _exit_abandoned()


async def stop_within_grace(kernel: Kernel) -> bool:
    """Flush the in-process bus and stop ``kernel`` within what is left of the grace
    period; return False (having logged what was abandoned) when time ran out."""
    drain = kernel.drain
    drain.begin()  # no-op after a signal; starts the clock when uvicorn stopped by itself
    try:
        async with asyncio.timeout(drain.remaining_s()):
            await kernel.flush(drain.remaining_s())
            await kernel.stop()
    except TimeoutError:
        log.error(
            "shutdown_abandoned",
            step=kernel.stopping_step,
            grace_s=drain.grace_s,
            elapsed_s=round(drain.elapsed_s(), 3),
        )
        return False
    log.info("shutdown_complete", elapsed_s=round(drain.elapsed_s(), 3))
    return True


def _exit_abandoned() -> None:
    """Leave now: a step past the grace period (a stuck writer thread) would otherwise
    keep the interpreter from exiting."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_ABANDONED)


def local_url(host: str, port: int) -> str:
    """Return the URL a process on this machine reaches a server bound to ``host`` at."""
    bare = host.strip().strip("[]")
    if bare in ("", "0.0.0.0", "::"):  # noqa: S104 - every interface includes loopback
        bare = "127.0.0.1"
    if ":" in bare:
        return f"http://[{bare}]:{port}"
    return f"http://{bare}:{port}"
