"""``Mt5Client``: the reference MT5 side of ``WS /ws/ticks`` (``docs/mt5-protocol.md``).

Every submitted tick is kept until an ack covers it. ``seq`` is per connection: a tick gets
a seq when it is first sent on a connection and keeps it there (a ``rate_limited`` tick is
resent with the same seq, so the server's contiguous ack can pass it); after a reconnect
every unacked tick is resent with a new seq. The server drops duplicates (same symbol, ts,
bid, ask) with a ``duplicate`` error, so a resend of a tick that was stored but not yet acked
is harmless. Until the first ack of a connection only one batch is in flight, so that the
server's contiguous-ack tracker starts at the connection's first seq.

A server that shuts down answers what it has read, sends a ``shutting_down`` error frame
and closes with 1012 (service restart); like any other non-permanent close, the client
reconnects with back-off (a 503 handshake while the server drains counts as one attempt)
and resends what was not acked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from chainflow.client.frames import (
    CLOSE_AUTH_FAILED,
    CLOSE_FORBIDDEN,
    CLOSE_LIFETIME_REACHED,
    CLOSE_SERVICE_RESTART,
    MAX_BATCH_ITEMS,
    PERMANENT_CLOSE_CODES,
    ClientStats,
    Mt5AuthError,
    Mt5ClientError,
    Mt5ConnectionError,
)

log = logging.getLogger(__name__)
Frame = dict[str, Any]
_END = object()


class Mt5Client:
    """Stream ticks to ``WS /ws/ticks`` with acks, resends, reconnects and backpressure."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        batch_size: int = 100,
        max_in_flight: int = 5000,
        linger_s: float = 0.005,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
        backoff_factor: float = 2.0,
        backoff_jitter: float = 0.5,
        max_reconnect_attempts: int | None = None,
        signals_mode: str = "on_change",
        symbols: tuple[str, ...] = (),
        open_timeout_s: float = 10.0,
        signal_buffer: int = 10_000,
        on_sent: Callable[[list[Frame], float], None] | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_ITEMS:
            raise ValueError(f"batch_size must be in 1..{MAX_BATCH_ITEMS}; received {batch_size}")
        if max_in_flight < batch_size:
            raise ValueError(f"max_in_flight must be >= batch_size; received {max_in_flight}")
        self.url, self._api_key = url, api_key
        self.batch_size, self.max_in_flight, self.linger_s = batch_size, max_in_flight, linger_s
        self._backoff = (backoff_initial_s, backoff_max_s, backoff_factor, backoff_jitter)
        self.max_reconnect_attempts = max_reconnect_attempts
        self._hello = {"type": "hello", "signals": signals_mode, "symbols": list(symbols)}
        self._open_timeout_s = open_timeout_s
        # Called as on_sent(items, time.perf_counter()) after each batch is written: items
        # carry their connection seq, which signal frames echo (client-side latency).
        self._on_sent = on_sent
        self.stats = ClientStats()
        self._signals: asyncio.Queue[Any] = asyncio.Queue(maxsize=signal_buffer)
        self._cond = asyncio.Condition()
        self._unacked: dict[int, Frame] = {}  # client id -> tick, in submission order
        self._next_id = 0
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._fatal: Mt5ClientError | None = None
        self._closing = False
        self._pause_until = 0.0  # monotonic; set by rate_limited
        self._id_to_seq: dict[int, int] = {}
        self._reset_connection_state()

    @property
    def errors(self) -> dict[str, int]:
        """Count of received ``error`` frames by code."""
        return dict(self.stats.errors)

    @property
    def unacked(self) -> int:
        return len(self._unacked)

    @property
    def connection(self) -> ClientConnection | None:
        """The current WebSocket (tests close its transport to simulate a network failure)."""
        return self._ws

    async def __aenter__(self) -> Mt5Client:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the first connection (raises ``Mt5AuthError``/``Mt5ConnectionError``)."""
        if self._task is not None:
            raise Mt5ClientError("connect() was already called")
        self._ws = await self._open()
        self._task = asyncio.create_task(self._supervise(), name="mt5-client")

    async def send_tick(
        self, symbol: str, ts_ms: int, bid: float, ask: float, volume: float = 0.0
    ) -> None:
        """Queue one tick; wait while ``max_in_flight`` ticks are unacked (backpressure)."""
        tick = {"symbol": symbol, "ts": int(ts_ms), "bid": bid, "ask": ask, "volume": volume}
        async with self._cond:
            await self._cond.wait_for(
                lambda: self._fatal is not None or len(self._unacked) < self.max_in_flight
            )
            self._raise_if_fatal()
            if self._task is None or self._closing:
                raise Mt5ClientError("the client is not connected: call connect() first")
            self._unacked[self._next_id] = tick
            self._outbox.append(self._next_id)
            self._next_id += 1
            self.stats.submitted += 1
            self._cond.notify_all()

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until every submitted tick is acked; ``TimeoutError`` after ``timeout`` s."""
        async with asyncio.timeout(timeout), self._cond:
            await self._cond.wait_for(lambda: self._fatal is not None or not self._unacked)
            self._raise_if_fatal()

    async def signals(self) -> AsyncIterator[Frame]:
        """Yield received ``signal`` frames until the client is closed."""
        while True:
            item = await self._signals.get()
            if item is _END:
                self._signals.put_nowait(_END)  # other iterators end too
                return
            yield item

    async def close(self) -> None:
        """Close the connection (code 1000) and stop; unacked ticks are abandoned."""
        self._closing = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._end_signals()
        async with self._cond:
            self._cond.notify_all()

    # -- connection lifecycle -------------------------------------------------------------

    async def _open(self) -> ClientConnection:
        """Connect, send ``hello`` and wait for its answer: auth failures surface here."""
        headers = {"Authorization": f"Bearer {self._api_key}"}
        try:
            ws = await connect(
                self.url, additional_headers=headers, open_timeout=self._open_timeout_s
            )
        except InvalidStatus as e:
            status = e.response.status_code
            if status in (401, 403):
                raise Mt5AuthError(f"the server refused the API key (HTTP {status})") from e
            raise Mt5ConnectionError(f"cannot connect to {self.url}: HTTP {status}") from e
        except (OSError, TimeoutError, WebSocketException) as e:
            raise Mt5ConnectionError(f"cannot connect to {self.url}: {e}") from e
        try:
            await ws.send(json.dumps(self._hello))
            async with asyncio.timeout(self._open_timeout_s):
                while True:
                    frame = _decode(await ws.recv())
                    if frame.get("type") == "hello":
                        return ws
                    await self._handle(frame)
        except ConnectionClosed as e:
            raise _closed_error(e) from e
        except TimeoutError as e:
            await ws.close()
            raise Mt5ConnectionError("the server did not answer the hello frame") from e

    async def _supervise(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                if self._ws is None:
                    self._ws = await self._open()
                    self.stats.reconnects += 1
                    log.info("reconnected to %s", self.url)
                attempt = 0
                await self._session(self._ws)
                code: int | None = self._ws.close_code
            except ConnectionClosed as e:
                code = e.rcvd.code if e.rcvd else None
                if code in PERMANENT_CLOSE_CODES:
                    await self._fail(_closed_error(e))
                    return
            except Mt5ConnectionError as e:
                code = e.close_code
                log.warning("%s", e)
            except Mt5ClientError as e:  # auth or protocol: retrying cannot help
                await self._fail(e)
                return
            if self._closing:
                return
            self._ws = None
            async with self._cond:
                self._reset_connection_state()
            if code == CLOSE_LIFETIME_REACHED:
                continue  # the server asks for a fresh connection: no back-off
            if code == CLOSE_SERVICE_RESTART:
                log.info("the server is restarting; reconnecting to %s", self.url)
            attempt += 1
            if self.max_reconnect_attempts is not None and attempt > self.max_reconnect_attempts:
                await self._fail(Mt5ConnectionError(f"gave up after {attempt - 1} reconnects"))
                return
            await asyncio.sleep(self._delay(attempt))

    def _delay(self, attempt: int) -> float:
        initial, ceiling, factor, jitter = self._backoff
        delay = min(ceiling, initial * factor ** (attempt - 1))
        return delay * (1 - jitter * random.random())  # noqa: S311 - jitter, not crypto

    async def _session(self, ws: ClientConnection) -> None:
        """Run the reader and the writer until the connection ends (re-raise its reason)."""
        reader = asyncio.create_task(self._read(ws))
        writer = asyncio.create_task(self._write(ws))
        done, pending = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        failures = [t.exception() for t in (reader, writer) if t in done and t.exception()]
        if failures:  # the reader's first: its ConnectionClosed carries the close code
            raise failures[0]  # type: ignore[misc]
        await ws.wait_closed()  # a cleanly finished task still means the connection ended

    def _reset_connection_state(self) -> None:
        """Forget seqs; queue every unacked tick (in submission order) for a resend."""
        self.stats.resent += len(self._id_to_seq)  # sent on the old connection, not acked
        self._outbox: deque[int] = deque(sorted(self._unacked))
        self._seq_to_id: dict[int, int] = {}
        self._id_to_seq = {}
        self._retry: deque[int] = deque()  # seqs refused as rate_limited, to resend as they are
        self._retry_set: set[int] = set()
        self._next_seq = 1
        self._acked_seq = 0
        self._has_ack = False

    async def _fail(self, error: Mt5ClientError) -> None:
        self._fatal = error
        self._end_signals()
        async with self._cond:
            self._cond.notify_all()

    def _raise_if_fatal(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    def _end_signals(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._signals.put_nowait(_END)

    # -- writer ---------------------------------------------------------------------------

    async def _write(self, ws: ClientConnection) -> None:
        while True:
            items = await self._next_batch()
            if not items:
                continue
            await ws.send(json.dumps({"type": "ticks", "items": items}))
            if self._on_sent is not None:
                self._on_sent(items, time.perf_counter())
            self.stats.frames_sent += 1
            self.stats.ticks_sent += len(items)

    def _can_send(self) -> bool:
        if not (self._outbox or self._retry) or time.monotonic() < self._pause_until:
            return False
        # Before the first ack, one batch at a time (rate-limited seqs are not in flight).
        return self._has_ack or len(self._seq_to_id) == len(self._retry_set)

    async def _next_batch(self) -> list[Frame]:
        async with self._cond:
            while not self._can_send():
                wait = self._pause_until - time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._cond.wait(), wait if wait > 0 else None)
            if not self._retry and len(self._outbox) < self.batch_size and self.linger_s > 0:
                with contextlib.suppress(TimeoutError):  # linger for a fuller batch
                    async with asyncio.timeout(self.linger_s):
                        await self._cond.wait_for(lambda: len(self._outbox) >= self.batch_size)
            items: list[Frame] = []
            while self._retry and len(items) < self.batch_size:
                seq = self._retry.popleft()
                self._retry_set.discard(seq)
                tick_id = self._seq_to_id.get(seq)
                if tick_id is not None and tick_id in self._unacked:
                    items.append({**self._unacked[tick_id], "seq": seq})
            allow_new = self._has_ack or not items  # no new seqs beside resends before an ack
            while allow_new and self._outbox and len(items) < self.batch_size:
                tick_id = self._outbox.popleft()
                if tick_id not in self._unacked:
                    continue
                seq = self._next_seq
                self._next_seq += 1
                self._seq_to_id[seq], self._id_to_seq[tick_id] = tick_id, seq
                items.append({**self._unacked[tick_id], "seq": seq})
            return items

    # -- reader ---------------------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            await self._handle(_decode(raw))

    async def _handle(self, frame: Frame) -> None:
        kind = frame.get("type")
        if kind == "ack" and isinstance(frame.get("seq"), int):
            await self._on_ack(frame["seq"])
        elif kind == "error":
            await self._on_error(frame)
        elif kind == "signal":
            self.stats.signals += 1
            if self._signals.full():
                self._signals.get_nowait()
                self.stats.signals_dropped += 1
            self._signals.put_nowait(frame)
        elif kind != "hello":
            self.stats.unknown_frames += 1

    async def _on_ack(self, seq: int) -> None:
        async with self._cond:
            self._has_ack = True
            for acked in range(self._acked_seq + 1, seq + 1):
                tick_id = self._seq_to_id.pop(acked, None)
                if tick_id is not None:
                    self._id_to_seq.pop(tick_id, None)
                    if self._unacked.pop(tick_id, None) is not None:
                        self.stats.settled += 1
            self._acked_seq = max(self._acked_seq, seq)
            self._cond.notify_all()

    async def _on_error(self, frame: Frame) -> None:
        code = str(frame.get("code"))
        self.stats.errors[code] += 1
        if code != "rate_limited":
            if frame.get("seq") is not None:
                self.stats.rejected[code] += 1
            log.debug("error frame: %s", frame)
            return
        details = frame.get("details") or {}
        retry_after = float(details.get("retry_after_s") or 0.05)
        async with self._cond:
            for seq in details.get("seqs") or []:
                if seq in self._seq_to_id and seq not in self._retry_set:
                    self._retry.append(seq)
                    self._retry_set.add(seq)
                    self.stats.resent += 1
            self._pause_until = max(self._pause_until, time.monotonic() + max(retry_after, 0.001))
            self._cond.notify_all()


def _decode(raw: str | bytes) -> Frame:
    try:
        frame = json.loads(raw)
    except ValueError:
        return {"type": "unreadable"}
    return frame if isinstance(frame, dict) else {"type": "unreadable"}


def _closed_error(e: ConnectionClosed) -> Mt5ClientError:
    code = e.rcvd.code if e.rcvd else None
    reason = e.rcvd.reason if e.rcvd else ""
    if code in (CLOSE_AUTH_FAILED, CLOSE_FORBIDDEN):
        what = "invalid or revoked" if code == CLOSE_AUTH_FAILED else "lacks the ticks:write scope"
        return Mt5AuthError(f"the API key is {what} (close {code} {reason})", code)
    if code in PERMANENT_CLOSE_CODES:
        return Mt5ClientError(f"the server closed the connection: {code} {reason}", code)
    return Mt5ConnectionError(f"the connection closed during the handshake: {code} {reason}", code)
