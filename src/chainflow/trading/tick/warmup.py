"""Key states of the tick hot path built in the background, so a new key answers at once.

A key's state (features replayed from its stored bars: hundreds of bars, tens of
milliseconds) is needed before its ticks can be scored. Built on the tick's own path, the
first tick of every new tenant or symbol — and every tick queued behind it — waited for
it. ``KeyWarmup`` builds it in a task instead: the hot path answers the key's ticks with a
``hold`` marked ``warming`` meanwhile and scores them as soon as the state is installed.

What happens during a build is not lost: bars published for the key meanwhile are kept
and applied once the state is installed (those after its last stored bar), and when the
key's ticks crossed into a later bar than the one the build started from, the build runs
again up to it (the bars before it are stored by then), so the installed state is not a
bar behind. A model change or a stale state (a revised bar) starts a new build; the old
state, when there is one of the same model, keeps answering until the new one is ready, and
a stale state's build starts ``STALE_DELAY_S`` later, so a burst of revisions (a terminal's
resend) costs one build.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from chainflow.bridge.api import BarPublished
from chainflow.core.logging import get_logger
from chainflow.core.market import Timeframe
from chainflow.ml.api import ServedModel
from chainflow.storage.api import TimeSeriesStore
from chainflow.trading.tick.bars import build_key_state
from chainflow.trading.tick.state import KeyState

log = get_logger("chainflow.trading.tick_warmup")

Key = tuple[str, str]  # tenant, symbol
STALE_DELAY_S = 0.25
MAX_CATCH_UP_BUILDS = 3  # builds in a row while the key's ticks keep crossing bars


@dataclass(slots=True)
class _Build:
    model_id: str
    first_ts: int
    latest_ts: int
    task: asyncio.Task[None] | None = None
    bars: list[BarPublished] = field(default_factory=list)


Install = Callable[[Key, KeyState, list[BarPublished]], None]


class KeyWarmup:
    """Background builds of key states; ``install`` is called with each finished one."""

    def __init__(self, store: TimeSeriesStore, install: Install) -> None:
        self._store = store
        self._install = install
        self._builds: dict[Key, _Build] = {}
        self.builds = 0
        self.failures = 0

    def is_building(self, key: Key) -> bool:
        return key in self._builds

    def building(self) -> list[Key]:
        return list(self._builds)

    def start(self, key: Key, first_ts: int, model: ServedModel, *, delay_s: float = 0.0) -> None:
        """Build ``key``'s state for ``model`` unless a build for it is running; after
        ``delay_s`` (a stale state: the revisions of a burst are rebuilt once)."""
        build = self._builds.get(key)
        if build is not None and build.model_id == model.version.id:
            return
        if build is not None and build.task is not None:
            build.task.cancel()  # a build for a model no longer served
        build = _Build(model.version.id, first_ts, first_ts)
        self._builds[key] = build
        build.task = asyncio.create_task(self._run(key, build, model, delay_s), name="tick-warmup")

    def note_tick(self, key: Key, ts: int) -> None:
        """Remember the latest in-order tick of a key being built."""
        build = self._builds.get(key)
        if build is not None and ts > build.latest_ts:
            build.latest_ts = ts

    def hold_bar(self, bar: BarPublished) -> bool:
        """Keep ``bar`` for the key's state being built; False when none is."""
        build = self._builds.get((bar.tenant_id, bar.symbol))
        if build is None:
            return False
        build.bars.append(bar)
        return True

    async def wait(self, key: Key) -> None:
        """Return once no build of ``key`` is running."""
        build = self._builds.get(key)
        if build is not None and build.task is not None:
            await asyncio.gather(asyncio.shield(build.task), return_exceptions=True)

    def cancel(self, key: Key) -> None:
        """Stop building ``key``'s state (its partition moved to another replica)."""
        build = self._builds.pop(key, None)
        if build is not None and build.task is not None:
            build.task.cancel()

    async def stop(self) -> None:
        tasks = [b.task for b in self._builds.values() if b.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._builds.clear()

    async def _run(self, key: Key, build: _Build, model: ServedModel, delay_s: float) -> None:
        tenant_id, symbol = key
        try:
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            first_ts = max(build.first_ts, build.latest_ts)
            for _ in range(MAX_CATCH_UP_BUILDS):
                state = await build_key_state(self._store, tenant_id, symbol, first_ts, model)
                if not _crossed(state.timeframe, first_ts, build.latest_ts):
                    break
                first_ts = build.latest_ts  # a bar closed meanwhile: build up to it
            self.builds += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            self.failures += 1
            log.exception("tick_warmup_failed", tenant_id=tenant_id, symbol=symbol)
            if self._builds.get(key) is build:
                del self._builds[key]
            return
        if self._builds.get(key) is build:
            del self._builds[key]
            self._install(key, state, build.bars)


def _crossed(timeframe: Timeframe, first_ts: int, latest_ts: int) -> bool:
    return timeframe.bucket_start_ms(latest_ts) > timeframe.bucket_start_ms(first_ts)
