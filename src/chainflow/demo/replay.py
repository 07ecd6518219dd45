"""How ``chainflow demo`` sends its ticks: paced, and one at a time so a run is reproducible.

Two runs of the demo see the same market; for them to give the same signals, paper trades
and account, the server must see the same sequence of events, whatever the machine's load:

- **Tick batching.** The hot path scores a key's queued ticks once, at the last one (under
  load), and the client batches the ticks written within ``linger_s``: how many ticks share
  a score would depend on timing. ``ReplayLockstep`` sends one tick per frame (no linger)
  and the next one only once the tick path has run it (scored, answered, marked on the
  paper account: ``TickProgress.processed_ticks``).
- **The bar-close path.** A bar's decision (bridge bar → features → ml → trading) runs
  beside the ticks; the paper order it makes fills at the symbol's next tick and the
  hysteresis step it takes changes the next ticks' signals. After a tick that opens a new
  bar of the model's timeframe, the next tick waits until the closed bar has been decided
  (``TradingApi.decided_through``); the trading service itself decides only after the
  tick path has run the closing tick (``trading.tick.progress``). The first tick of a
  symbol closes the last stored history bar (``open_bars``: the bridge carries it on).

The waits are bounded (``timeout_s``): a bar that is never decided (a model that cannot
serve the symbol) is counted in ``unsettled`` and its symbol is not waited for again, so
the replay goes on and the summary says the run may differ from another. Pacing
(``speed``) still holds; the server's latencies vary between runs, the results do not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from chainflow.core.market import Timeframe

if TYPE_CHECKING:
    from chainflow.client.mt5 import Mt5Client
    from chainflow.core.market import Tick
    from chainflow.trading.api import TradingApi

POLL_S = 0.0005
SETTLE_TIMEOUT_S = 5.0


class ReplayLockstep:
    """Wait, after each tick, until the server has run it (and the bar it closed)."""

    def __init__(
        self,
        client: Mt5Client,
        trading: TradingApi,
        tenant_id: str,
        timeframe: Timeframe,
        *,
        open_bars: dict[str, int] | None = None,
        timeout_s: float = SETTLE_TIMEOUT_S,
    ) -> None:
        self._client, self._trading, self._tenant_id = client, trading, tenant_id
        self.timeframe = timeframe
        self.timeout_s = timeout_s
        self.unsettled = 0
        self._base = trading.tick_path.progress.processed_ticks
        self._sent = 0
        self._bar: dict[str, int] = dict(open_bars or {})
        self._given_up: set[str] = set()

    async def after(self, tick: Tick) -> None:
        """Return once ``tick`` (just submitted) and any bar it closed have been run."""
        self._sent += 1
        progress = self._trading.tick_path.progress
        stats = self._client.stats

        def is_run() -> bool:
            accepted = self._sent - sum(stats.rejected.values())
            return progress.processed_ticks - self._base >= accepted

        if not await _poll(is_run, self.timeout_s):
            self.unsettled += 1
        bucket = self.timeframe.bucket_start_ms(tick.ts)
        closed = self._bar.get(tick.symbol)
        self._bar[tick.symbol] = bucket
        if closed is None or bucket <= closed or tick.symbol in self._given_up:
            return
        key = (self._tenant_id, tick.symbol, self.timeframe.value)

        def is_decided() -> bool:
            decided = self._trading.decided_through(*key)
            return decided is not None and decided >= closed

        if not await _poll(is_decided, self.timeout_s):
            self.unsettled += 1
            self._given_up.add(tick.symbol)


async def send_ticks(
    client: Mt5Client,
    ticks: tuple[Tick, ...],
    speed: float | None,
    lockstep: ReplayLockstep | None = None,
) -> None:
    """Send ``ticks`` paced by market time / ``speed`` (None: at once), then drain."""
    began = time.perf_counter()
    first_ts = ticks[0].ts if ticks else 0
    for tick in ticks:
        if speed is not None:
            ahead = (tick.ts - first_ts) / 1000 / speed - (time.perf_counter() - began)
            if ahead > 0:
                await asyncio.sleep(ahead)
        await client.send_tick(tick.symbol, tick.ts, tick.bid, tick.ask, tick.volume)
        if lockstep is not None:
            await lockstep.after(tick)
    await client.drain(120)


async def _poll(is_done: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.perf_counter() + timeout_s
    while not is_done():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True
