"""The order between the tick path and bar-close decisions (``trading.tick.progress``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chainflow.runtime.kernel import Kernel
from chainflow.trading.tick.progress import TickProgress
from tests.fixtures.api_client import logged_in_client
from tests.trading.test_service import SYMBOL, crafted_predictions

KEY = ("tenant-a", "EURUSD")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Kernel, str]]:
    async with logged_in_client(tmp_path / "home") as connected:
        yield connected


class TestScoredThrough:
    async def test_a_key_the_tick_path_does_not_keep_passes_at_once(self) -> None:
        progress = TickProgress()
        assert await progress.scored_through(*KEY, "M5", 1_000, timeout_s=0.0)
        progress.track(KEY, "M1")
        assert await progress.scored_through(*KEY, "M5", 1_000, timeout_s=0.0)  # other tf

    async def test_waits_for_the_batch_that_ran_the_closing_tick(self) -> None:
        progress = TickProgress()
        progress.track(KEY, "M5")
        waiting = asyncio.create_task(progress.scored_through(*KEY, "M5", 300_000, timeout_s=30))
        await progress.record({KEY: ("M5", 0)}, ticks=2)  # an earlier bar: not yet
        await asyncio.sleep(0)
        assert not waiting.done()

        await progress.record({KEY: ("M5", 300_000)}, ticks=1)

        assert await waiting is True
        assert progress.processed_ticks == 3 and progress.scored_bar(KEY) == 300_000

    async def test_a_first_batch_in_progress_is_waited_for(self) -> None:
        progress = TickProgress()
        progress.begin(KEY)  # its state is being built: the timeframe is not known yet
        waiting = asyncio.create_task(progress.scored_through(*KEY, "M5", 300_000, timeout_s=30))
        await asyncio.sleep(0)
        assert not waiting.done()

        await progress.record({}, ticks=1, untracked=(KEY,))  # no model: no state kept

        assert await waiting is True and progress.scored_bar(KEY) is None

    async def test_gives_up_after_the_timeout(self) -> None:
        progress = TickProgress()
        progress.track(KEY, "M5")
        assert await progress.scored_through(*KEY, "M5", 300_000, timeout_s=0.01) is False
        assert progress.scored_bar(KEY) is None


class TestOnPrediction:
    async def test_a_bar_is_decided_only_after_its_closing_tick_ran(
        self, client: tuple[httpx.AsyncClient, Kernel, str]
    ) -> None:
        _, kernel, tenant = client
        trading = kernel.trading
        assert trading is not None
        prediction = crafted_predictions(tenant, [1_700_000_100_000])[0]
        trading.tick_path.progress.track((tenant, SYMBOL), prediction.timeframe)

        deciding = asyncio.create_task(trading.on_prediction(prediction))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not deciding.done()
        assert trading.decided_through(tenant, SYMBOL, prediction.timeframe) is None

        bar = (prediction.timeframe, prediction.ts)
        await trading.tick_path.progress.record({(tenant, SYMBOL): bar}, ticks=1)
        await deciding

        assert trading.decided_through(tenant, SYMBOL, prediction.timeframe) == prediction.ts
