"""Paper accounts survive a restart: the book is saved as a document and read back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from chainflow.bridge.events import TicksAccepted, ticks_topic
from chainflow.core.settings import Settings, TradingSettings
from chainflow.ml.api import predictions_topic
from chainflow.runtime.kernel import Kernel
from chainflow.trading.paper.desk import PaperDesk, PaperSignal
from chainflow.trading.service import TradingService
from tests.fixtures.settings import embedded_settings
from tests.trading.test_service_risk import BAR_MS, SYMBOL, T0, UP, prediction

TENANT = "0190a5c0-0000-7000-8000-0000000paper"
SERVICES = "hub,storage,bridge,features,ml,trading"


async def tick(kernel: Kernel, ts: int, bid: float) -> None:
    event = TicksAccepted(
        TENANT,
        SYMBOL,
        ts,
        ((ts, bid, round(bid + 0.0001, 5), 1.0, False, None),),
        connection="c",
        received_us=kernel.clock.now_us(),
    )
    await kernel.infra.bus.publish(ticks_topic(TENANT, SYMBOL), event.to_json())


async def until(check, what: str):  # type: ignore[no-untyped-def]
    for _ in range(1000):
        if found := check():
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {what}")


class TestDocument:
    async def test_dump_and_load_continue_the_same_book(self) -> None:
        desk = PaperDesk(starting_balance=10_000.0, max_daily_loss_pct=0.5)
        desk.on_signal(
            TENANT,
            PaperSignal(SYMBOL, T0, "buy", 1.0, 1.09, 1.12, "m@1", ("edge 0.4",), "bull/normal"),
        )
        await desk.on_tick(TENANT, SYMBOL, T0 + 1_000, 1.10000, 1.10010)
        await desk.on_tick(TENANT, SYMBOL, T0 + 2_000, 1.09900, 1.09910)  # -1.1%: tripped
        assert desk.halted(TENANT) is not None
        restored = PaperDesk(starting_balance=10_000.0)
        restored.load(TENANT, desk.dump(TENANT))
        assert restored.account_view(TENANT) == desk.account_view(TENANT)
        assert restored.halted(TENANT) == desk.halted(TENANT)
        assert restored.attribution(TENANT).to_dict() == desk.attribution(TENANT).to_dict()
        # Both continue identically.
        for book in (desk, restored):
            await book.on_tick(TENANT, SYMBOL, T0 + 3_000, 1.09950, 1.09960)
        assert restored.account_view(TENANT) == desk.account_view(TENANT)

    def test_a_bad_document_is_refused(self) -> None:
        with pytest.raises(ValueError, match="expected a paper account document"):
            PaperDesk(starting_balance=10_000.0).load(TENANT, {"account": {}})


class TestRestart:
    async def test_the_account_is_the_same_after_a_restart(self, tmp_path: Path) -> None:
        settings = embedded_settings(tmp_path / "home", trading=TradingSettings(paper_save_s=0.05))
        kernel = Kernel(settings, services=SERVICES)
        kernel.build()
        await kernel.start()
        try:
            await tick(kernel, T0 - 1_000, 1.10000)
            bar = T0
            for _ in range(3):
                body = prediction(TENANT, bar, UP).to_json()
                await kernel.infra.bus.publish(predictions_topic(TENANT, SYMBOL, "M5"), body)
                bar += BAR_MS
            assert kernel.trading is not None
            desk = kernel.trading.desk
            await until(lambda: desk.intended_lots(TENANT, SYMBOL) > 0, "a buy order")
            await tick(kernel, bar, 1.10000)
            await until(lambda: desk.position_lots(TENANT, SYMBOL) > 0, "the fill")
            before = desk.account_view(TENANT)
        finally:
            await kernel.stop()

        again = Kernel(settings, services=SERVICES)
        again.build()
        await again.start()
        try:
            assert again.trading is not None
            await again.trading.desk.ensure(TENANT)
            assert again.trading.desk.account_view(TENANT) == before
            assert before["positions"] and before["positions"][0]["symbol"] == SYMBOL
        finally:
            await again.stop()

    async def test_a_save_cancelled_midway_leaves_the_book_to_the_next_save(
        self, tmp_path: Path
    ) -> None:
        # The periodic saver is cancelled at stop, possibly while it writes: the book it took
        # must still be saved by the save at stop, or the restart loads an older book.
        settings = embedded_settings(tmp_path / "home", trading=TradingSettings(paper_save_s=60))
        kernel = Kernel(settings, services=SERVICES)
        kernel.build()
        await kernel.start()
        try:
            assert kernel.trading is not None
            desk, store = kernel.trading.desk, kernel.trading.paper_store
            desk.on_signal(TENANT, PaperSignal(SYMBOL, T0, "buy", 1.0, 1.09, 1.12, "m@1", (), ""))
            saving = asyncio.create_task(store.save_changed(desk))
            await asyncio.sleep(0)  # the save has taken the dirty books and awaits the database
            saving.cancel()
            await asyncio.gather(saving, return_exceptions=True)

            assert await store.save_changed(desk) == 1
            assert (await store.load(TENANT)) is not None
        finally:
            await kernel.stop()


@asynccontextmanager
async def trading_of(settings: Settings) -> AsyncIterator[TradingService]:
    """The trading service of a running kernel, stopped (books saved) on exit."""
    kernel = Kernel(settings, services=SERVICES)
    kernel.build()
    await kernel.start()
    try:
        assert kernel.trading is not None
        yield kernel.trading
    finally:
        await kernel.stop()


class TestStrategyStatesSaved:
    async def test_the_strategies_continue_after_a_restart(self, tmp_path: Path) -> None:
        settings = embedded_settings(tmp_path / "home", trading=TradingSettings(paper_save_s=60))
        bars = [T0 + i * BAR_MS for i in range(3)]
        async with trading_of(settings) as trading:
            for bar in bars:
                await trading.on_prediction(prediction(TENANT, bar, UP))
            action = trading.action_of(TENANT, SYMBOL, "M5")
            assert action == "buy"
            lots = trading.desk.intended_lots(TENANT, SYMBOL)
        # The stop saved the book and the strategies in one document.
        async with trading_of(settings) as trading:
            # A redelivered prediction of a bar already run is ignored: no second signal.
            assert await trading.on_prediction(prediction(TENANT, bars[-1], UP)) is None
            assert trading.stats.stale_predictions == 1
            assert trading.action_of(TENANT, SYMBOL, "M5") == action
            assert trading.desk.intended_lots(TENANT, SYMBOL) == pytest.approx(lots)
            # The next bar continues the same strategy: still long, nothing new to issue.
            assert await trading.on_prediction(prediction(TENANT, bars[-1] + BAR_MS, UP)) is None
            assert trading.stats.predictions == 1

    async def test_reading_the_account_first_keeps_the_saved_book(self, tmp_path: Path) -> None:
        # After a restart, the account read over the API before any tick or prediction
        # loads the saved book; it never opens an empty one that a save would write back.
        settings = embedded_settings(tmp_path / "home", trading=TradingSettings(paper_save_s=60))
        async with trading_of(settings) as trading:
            signal = PaperSignal(SYMBOL, T0, "buy", 1.0, 1.09, 1.12, "m@1", (), "")
            trading.desk.on_signal(TENANT, signal)
        async with trading_of(settings) as trading:
            accounts = await trading.paper_accounts_of(TENANT)
            assert accounts.intended_lots(TENANT, SYMBOL) == pytest.approx(1.0)
            await trading.paper_store.save_changed(trading.desk)
            saved = await trading.paper_store.load(TENANT)
            assert saved is not None and saved["account"]["state"]["pending_orders"]
