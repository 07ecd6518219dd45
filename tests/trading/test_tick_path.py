"""The per-tick hot path on the embedded kernel: ticks in, signal frames for their connection.

Bars are stored (not published: no bar-close predictions run) and a production model is
promoted; ``TicksAccepted`` events as the bridge publishes them are answered on
``trading.connection.<tenant>.<connection>``. Proves: one frame per tick with its ``seq``
for ``every_tick``; the decision equals ``ModelStrategy`` on the model's answer for the batch
feature row of the stored bars plus the forming bar; stops on the right side of the tick's
price; ``on_change`` sends only changes and one frame per new bar; warm-up and "no model"
answer ``hold`` with the reason; the committed feature state is untouched by the ticks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chainflow.bridge.bar_table import persist_bars
from chainflow.bridge.bars import AggregatedBar
from chainflow.bridge.events import (
    BarPublished,
    SymbolsDeclared,
    TickRow,
    TicksAccepted,
    bars_topic,
    symbols_declared_topic,
    ticks_topic,
)
from chainflow.core.ids import TenantId
from chainflow.core.market import BarSeries
from chainflow.core.settings import MlSettings
from chainflow.features.api import feature_matrix, get_feature_set
from chainflow.hub.api import BusMessage, subscribe_in_turn
from chainflow.ml.training.serving import ModelBundle
from chainflow.runtime.kernel import Kernel
from chainflow.trading.decision.strategy import ModelStrategy, StrategyContext
from chainflow.trading.decision.synthesis import DecisionInput, TradingPreferences
from chainflow.trading.events import connection_topic
from chainflow.trading.paper.desk import PaperDesk
from chainflow.trading.tick.bars import build_key_state
from chainflow.trading.tick.scoring import PreparedScore, predict_all
from chainflow.trading.tick.state import regime_fields
from tests.fixtures.market_data import make_ohlcv
from tests.fixtures.settings import embedded_settings
from tests.ml.test_service import TENANT, TF, bars_of, train_and_promote

SERVICES = "hub,storage,bridge,features,ml,trading"
SYMBOL = "EURUSD"
STEP_MS = 1_000


@pytest.fixture
async def kernel(tmp_path: Path) -> AsyncIterator[Kernel]:
    settings = embedded_settings(tmp_path / "home", ml=MlSettings(refresh_s=0.01))
    running = Kernel(settings, services=SERVICES)
    running.build()
    await running.start()
    yield running
    await running.stop()


async def frames_of(kernel: Kernel, tenant: str, connection: str) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []

    async def on(message: BusMessage) -> None:
        received.extend(json.loads(line) for line in message.data.split(b"\n") if line)

    await kernel.infra.bus.subscribe(connection_topic(tenant, connection), on)
    return received


async def send_ticks(
    kernel: Kernel,
    rows: list[tuple[int, float, float, float, bool, int | None]],
    *,
    connection: str,
    signals: str = "every_tick",
    tenant: str = TENANT,
    symbol: str = SYMBOL,
) -> None:
    event = TicksAccepted(
        tenant,
        symbol,
        kernel.clock.now_ms(),
        tuple(rows),
        connection=connection,
        signals=signals,
        received_us=kernel.clock.now_us(),
    )
    await kernel.infra.bus.publish(ticks_topic(tenant, symbol), event.to_json())


async def until(frames: list[dict[str, Any]], count: int) -> None:
    for _ in range(3000):
        if len(frames) >= count:
            await asyncio.sleep(0.05)  # and nothing more arrives
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} frames; received {len(frames)}: {frames}")


def tick_rows(start_ms: int, bids: list[float], first_seq: int = 1) -> list[Any]:
    return [
        (start_ms + i * STEP_MS, bid, round(bid + 0.0001, 6), 1.0, False, first_seq + i)
        for i, bid in enumerate(bids)
    ]


async def stored_market(kernel: Kernel, bars: int, symbol: str = SYMBOL) -> Any:
    data = make_ohlcv(bars, seed=91)
    data = dataclasses.replace(data, ts_ms=data.ts_ms - data.ts_ms[0] % TF.milliseconds)
    await persist_bars(kernel.infra.timeseries, TenantId(TENANT), bars_of(data, symbol))
    return data


class TestEveryTick:
    async def test_each_tick_gets_the_strategy_decision_on_the_forming_bar(
        self, kernel: Kernel, tmp_path: Path
    ) -> None:
        onnx = await train_and_promote(kernel, tmp_path / "home", {})
        data = await stored_market(kernel, 400)
        frames = await frames_of(kernel, TENANT, "conn-a")
        forming_ts = int(data.ts_ms[-1]) + TF.milliseconds
        last_close = float(data.close[-1])
        bids = [round(last_close * (1 + d), 5) for d in (0.0, 0.0004, -0.0003, 0.0012, 0.0007)]
        assert kernel.trading is not None
        await kernel.trading.tick_path.warm(TENANT, [SYMBOL], forming_ts)
        await send_ticks(kernel, tick_rows(forming_ts, bids), connection="conn-a")
        await until(frames, 5)

        assert [f["seq"] for f in frames] == [1, 2, 3, 4, 5]
        assert [f["ts"] for f in frames] == [forming_ts + i * STEP_MS for i in range(5)]
        assert len(frames) == 5 and all(f["type"] == "signal" for f in frames)
        assert all(f["model"] == "fx-default@1" and f["latency_ms"] >= 0 for f in frames)
        # One event: every frame carries the decision at its last tick, recomputed here
        # from the batch features of the stored bars plus the forming bar.
        last = frames[-1]
        ts = np.append(data.ts_ms, forming_ts)
        matrix = feature_matrix(
            get_feature_set("fx-core@1"),
            BarSeries.from_arrays(
                ts=ts,
                open=np.append(data.open, bids[0]),
                high=np.append(data.high, max(bids)),
                low=np.append(data.low, min(bids)),
                close=np.append(data.close, bids[-1]),
                volume=np.append(data.volume, 5.0),
                spread=np.append(np.full(len(data.close), 0.0001), 0.0001),
            ),
        )
        output = ModelBundle(onnx).predict(matrix[-1:])
        assert kernel.trading is not None and kernel.trading.tick_path is not None
        state = kernel.trading.tick_path._keys[(TENANT, SYMBOL)]
        p = [float(x) for x in output.probabilities[0]]
        decision_input = DecisionInput(
            symbol=SYMBOL,
            ts=forming_ts,
            probabilities=(p[0], p[1], p[2]),
            model="fx-default@1",
            expected_volatility=float(output.volatility[0]),
            momentum=float(output.momentum[0]),
            **regime_fields(state.pipeline.regime),
        )
        expected = ModelStrategy(TradingPreferences()).on_bar(StrategyContext(decision_input))
        assert last["action"] == expected.action
        assert last["confidence"] == pytest.approx(expected.confidence, abs=2e-6)
        assert last["reasons"][: len(expected.reasons)] == list(expected.reasons)
        if last["action"] == "buy":
            assert last["size"] > 0 and last["stop_loss"] < bids[-1] + 0.0001 < last["take_profit"]
        elif last["action"] == "sell":
            assert last["size"] > 0 and last["take_profit"] < bids[-1] < last["stop_loss"]
        else:
            assert last["size"] == 0 and last["stop_loss"] is None
        # The committed state is the stored bars' (the ticks only previewed the forming bar).
        assert state.pipeline.last_ts == int(data.ts_ms[-1])
        assert state.forming is not None and state.forming.ts == forming_ts

    async def test_warm_up_and_no_model_answer_hold_with_the_reason(
        self, kernel: Kernel, tmp_path: Path
    ) -> None:
        frames_other = await frames_of(kernel, "0190a5c0-0000-7000-8000-0000000other", "c")
        await send_ticks(
            kernel,
            tick_rows(1_700_000_000_000, [1.1, 1.1001]),
            connection="c",
            tenant="0190a5c0-0000-7000-8000-0000000other",
        )
        await until(frames_other, 2)
        assert {f["action"] for f in frames_other} == {"hold"}
        assert "no production model" in frames_other[0]["reasons"][0]

        await train_and_promote(kernel, tmp_path / "home", {})
        data = await stored_market(kernel, 20, symbol="GBPUSD")
        frames = await frames_of(kernel, TENANT, "w")
        start = int(data.ts_ms[-1]) + TF.milliseconds
        assert kernel.trading is not None
        await kernel.trading.tick_path.warm(TENANT, ["GBPUSD"], start)
        await send_ticks(kernel, tick_rows(start, [1.27]), connection="w", symbol="GBPUSD")
        await until(frames, 1)
        assert frames[0]["action"] == "hold" and frames[0]["seq"] == 1
        assert "features warming up" in frames[0]["reasons"][0]


class TestColdKeys:
    async def test_a_new_key_is_answered_at_once_then_scored_once_its_state_is_built(
        self, kernel: Kernel, tmp_path: Path
    ) -> None:
        await train_and_promote(kernel, tmp_path / "home", {})
        data = await stored_market(kernel, 400)
        frames = await frames_of(kernel, TENANT, "cold")
        forming_ts = int(data.ts_ms[-1]) + TF.milliseconds
        close = float(data.close[-1])
        await send_ticks(kernel, tick_rows(forming_ts, [close]), connection="cold")
        await until(frames, 1)
        assert frames[0]["action"] == "hold" and frames[0]["seq"] == 1
        assert frames[0]["reasons"][0].startswith("warming:")
        assert kernel.trading is not None
        tick_path = kernel.trading.tick_path
        await tick_path.warm(TENANT, [SYMBOL], forming_ts)  # the build started by tick 1
        assert tick_path.stats.warming >= 1 and (TENANT, SYMBOL) in tick_path._keys
        await send_ticks(
            kernel, tick_rows(forming_ts + STEP_MS, [close], first_seq=2), connection="cold"
        )
        await until(frames, 2)
        assert frames[1]["seq"] == 2 and not frames[1]["reasons"][0].startswith("warming")
        assert frames[1]["model"] == "fx-default@1"

    async def test_a_terminal_hello_builds_its_symbols_before_their_first_tick(
        self, kernel: Kernel, tmp_path: Path
    ) -> None:
        await train_and_promote(kernel, tmp_path / "home", {})
        data = await stored_market(kernel, 400)
        frames = await frames_of(kernel, TENANT, "hello")
        forming_ts = int(data.ts_ms[-1]) + TF.milliseconds
        declared = SymbolsDeclared(TENANT, "hello", (SYMBOL,), forming_ts)
        await kernel.infra.bus.publish(symbols_declared_topic(TENANT), declared.to_json())
        assert kernel.trading is not None
        tick_path = kernel.trading.tick_path
        for _ in range(1000):
            if (TENANT, SYMBOL) in tick_path._keys:
                break
            await asyncio.sleep(0.01)
        close = float(data.close[-1])
        await send_ticks(kernel, tick_rows(forming_ts, [close]), connection="hello")
        await until(frames, 1)
        assert not frames[0]["reasons"][0].startswith("warming")
        assert tick_path.stats.warming == 0

    async def test_bars_published_while_building_are_applied_to_the_new_state(
        self, kernel: Kernel, tmp_path: Path
    ) -> None:
        await train_and_promote(kernel, tmp_path / "home", {})
        data = await stored_market(kernel, 400)
        assert kernel.trading is not None
        tick_path = kernel.trading.tick_path
        stored_last = int(data.ts_ms[-1])
        # The key's state starts building from the stored bars; the bridge closes the
        # next bar before the build is installed: the state must include it.
        model = await kernel.trading.tick_path._models.resolve(TENANT)  # type: ignore[union-attr]
        assert model is not None
        tick_path._warmup.start((TENANT, SYMBOL), stored_last + TF.milliseconds, model)
        bar = BarPublished(
            tenant_id=TENANT,
            symbol=SYMBOL,
            timeframe=TF.value,
            ts=stored_last + TF.milliseconds,
            open=float(data.close[-1]),
            high=float(data.close[-1]) + 0.0005,
            low=float(data.close[-1]) - 0.0005,
            close=float(data.close[-1]),
            volume=3.0,
            tick_count=3,
            spread_mean=0.0001,
        )
        tick_path.on_bar(bar)
        await tick_path._warmup.wait((TENANT, SYMBOL))
        assert tick_path._keys[(TENANT, SYMBOL)].pipeline.last_ts == bar.ts


class TestOnChange:
    async def test_a_frame_on_each_change_and_on_each_new_bar(
        self, kernel: Kernel, tmp_path: Path
    ) -> None:
        await train_and_promote(kernel, tmp_path / "home", {})
        data = await stored_market(kernel, 400)
        every = await frames_of(kernel, TENANT, "every")
        changes = await frames_of(kernel, TENANT, "changes")
        forming_ts = int(data.ts_ms[-1]) + TF.milliseconds
        close = float(data.close[-1])
        bids = [round(close * (1 + 0.0006 * np.sin(i)), 5) for i in range(8)]
        assert kernel.trading is not None
        await kernel.trading.tick_path.warm(TENANT, [SYMBOL], forming_ts)
        for i, row in enumerate(tick_rows(forming_ts, bids)):  # one tick per frame, as MT5
            await send_ticks(kernel, [row], connection="every")
            await until(every, i + 1)
            await send_ticks(kernel, [row], connection="changes", signals="on_change")
        await until(every, 8)
        actions = [f["action"] for f in every]
        switches = [i for i in range(8) if i == 0 or actions[i] != actions[i - 1]]
        await until(changes, len(switches))
        assert [f["seq"] for f in changes] == [i + 1 for i in switches]
        assert [f["action"] for f in changes] == [actions[i] for i in switches]

        # The bar closes (the bridge publishes it before the next bar's ticks): one frame.
        bar = BarPublished(
            TENANT,
            SYMBOL,
            TF.value,
            forming_ts,
            bids[0],
            max(bids),
            min(bids),
            bids[-1],
            8.0,
            8,
            0.0001,
        )
        await kernel.infra.bus.publish(bars_topic(TENANT, SYMBOL, TF), bar.to_json())
        next_bar = forming_ts + TF.milliseconds
        await send_ticks(
            kernel,
            tick_rows(next_bar, [bids[-1]], first_seq=9),
            connection="changes",
            signals="on_change",
        )
        await until(changes, len(switches) + 1)
        assert changes[-1]["seq"] == 9 and changes[-1]["ts"] == next_bar
        assert kernel.trading is not None and kernel.trading.tick_path is not None
        state = kernel.trading.tick_path._keys[(TENANT, SYMBOL)]
        assert state.pipeline.last_ts == forming_ts  # the closed bar was committed


class TestPartialFirstBar:
    """A key's first forming bar after its state was built begins at the first tick seen,
    mid-bar: the bridge's bar of that time replaces it in place (no rebuild from storage),
    and the state is then exactly the one built from the stored bars including it."""

    async def test_the_bridge_bar_replaces_a_partial_bar_without_a_rebuild(
        self, kernel: Kernel, tmp_path: Path
    ) -> None:
        await train_and_promote(kernel, tmp_path / "home", {})
        data = await stored_market(kernel, 400)
        frames = await frames_of(kernel, TENANT, "mid")
        assert kernel.trading is not None
        tick_path = kernel.trading.tick_path
        forming_ts = int(data.ts_ms[-1]) + TF.milliseconds
        close = float(data.close[-1])
        await tick_path.warm(TENANT, [SYMBOL], forming_ts)
        builds = tick_path.stats.rebuilds
        # Ticks from the middle of the bar (its earlier ticks were before the build)
        mid = forming_ts + TF.milliseconds // 2
        bids = [round(close * (1 + d), 5) for d in (0.0002, 0.0005, -0.0001)]
        await send_ticks(kernel, tick_rows(mid, bids), connection="mid")
        # ... then the next bar's first tick commits the partial bar
        next_bar = forming_ts + TF.milliseconds
        await send_ticks(kernel, tick_rows(next_bar, [bids[-1]], first_seq=4), connection="mid")
        await until(frames, 4)
        state = tick_path._keys[(TENANT, SYMBOL)]
        assert state.pipeline.last_ts == forming_ts and state.committed is not None
        assert state.committed.open == bids[0]  # what this process saw: partial
        # The bridge's bar of that time, from every tick of it
        full = AggregatedBar(
            SYMBOL,
            TF,
            forming_ts,
            close,
            round(close * 1.0009, 5),
            round(close * 0.9992, 5),
            bids[-1],
            9.0,
            9,
            0.0001,
            0.0001,
            0.0009,
            forming_ts,
            mid + 2 * STEP_MS,
        )
        bar = BarPublished(
            TENANT,
            SYMBOL,
            TF.value,
            forming_ts,
            full.open,
            full.high,
            full.low,
            full.close,
            full.volume,
            full.tick_count,
            full.spread_mean,
        )
        await kernel.infra.bus.publish(bars_topic(TENANT, SYMBOL, TF), bar.to_json())
        for _ in range(500):
            if state.committed.open == close:
                break
            await asyncio.sleep(0.01)
        assert not state.stale and tick_path.stats.rebuilds == builds
        assert (state.committed.open, state.committed.high) == (bar.open, bar.high)
        assert state.forming is not None and state.forming.ts == next_bar

        # Equal to a state built from the stored bars plus the bridge's bar
        await persist_bars(kernel.infra.timeseries, TenantId(TENANT), [full])
        model = await tick_path._models.resolve(TENANT)  # type: ignore[union-attr]
        assert model is not None
        fresh = await build_key_state(kernel.infra.timeseries, TENANT, SYMBOL, next_bar, model)
        assert fresh.pipeline.last_ts == state.pipeline.last_ts == forming_ts
        probe = state.forming.values()
        np.testing.assert_array_equal(
            state.pipeline.engine.preview(probe), fresh.pipeline.engine.preview(probe)
        )
        assert state.atr.value == fresh.atr.value
        assert len(state.closed) == len(fresh.closed)
        for mine, theirs in zip(state.closed, fresh.closed, strict=True):
            np.testing.assert_array_equal(mine, theirs)


SLOW_TENANT = "0190a5c0-0000-7000-8000-00000000slow"


def hold_book_loads(desk: PaperDesk, tenant_id: str) -> asyncio.Event:
    """Make ``tenant_id``'s paper book load wait until the returned event is set."""
    release = asyncio.Event()
    load = desk._loader
    assert load is not None

    async def loader(tenant: str) -> dict[str, Any] | None:
        if tenant == tenant_id:
            await release.wait()
        return await load(tenant)

    desk._loader = loader
    return release


class TestBookLoads:
    async def test_a_slow_book_load_delays_only_its_own_tenant(self, kernel: Kernel) -> None:
        """A tenant's first ticks wait for its paper book to load; the other tenants'
        ticks of the same batch are answered meanwhile (before: after the load)."""
        assert kernel.trading is not None
        tick_path, desk = kernel.trading.tick_path, kernel.trading.desk
        slow, quick = SLOW_TENANT, "0190a5c0-0000-7000-8000-0000000quick"
        release = hold_book_loads(desk, slow)
        frames_slow = await frames_of(kernel, slow, "s")
        frames_quick = await frames_of(kernel, quick, "q")

        def event(tenant: str, connection: str) -> TicksAccepted:
            rows = tuple(TickRow(*row) for row in tick_rows(1_700_000_000_000, [1.1, 1.1001]))
            now_us = kernel.clock.now_us()
            return TicksAccepted(
                tenant,
                SYMBOL,
                0,
                rows,
                connection=connection,
                signals="every_tick",
                received_us=now_us,
            )

        batch = [event(slow, "s"), event(quick, "q")]  # the slow tenant's ticks first
        running = asyncio.create_task(tick_path.process(list(batch)))
        await until(frames_quick, 2)
        assert frames_slow == [] and not running.done()
        release.set()
        await running
        await until(frames_slow, 2)
        assert [f["seq"] for f in frames_slow] == [f["seq"] for f in frames_quick] == [1, 2]
        assert desk.ready(slow) and desk.ready(quick)

    async def test_a_new_key_is_answered_before_the_scored_keys_of_its_batch(
        self, kernel: Kernel, tmp_path: Path
    ) -> None:
        """A new key's first tick (answered ``warming`` at once) is not queued behind the
        scoring of every other key of its batch."""
        await train_and_promote(kernel, tmp_path / "home", {})
        data = await stored_market(kernel, 400)
        assert kernel.trading is not None
        tick_path = kernel.trading.tick_path
        forming_ts = int(data.ts_ms[-1]) + TF.milliseconds
        await tick_path.warm(TENANT, [SYMBOL], forming_ts)
        order: list[str] = []

        async def on(message: BusMessage) -> None:
            order.extend(json.loads(line)["symbol"] for line in message.data.split(b"\n") if line)

        await kernel.infra.bus.subscribe(connection_topic(TENANT, "both"), on)
        close = float(data.close[-1])

        def event(symbol: str) -> TicksAccepted:
            rows = tuple(TickRow(*row) for row in tick_rows(forming_ts, [close]))
            return TicksAccepted(
                TENANT,
                symbol,
                0,
                rows,
                connection="both",
                signals="every_tick",
                received_us=kernel.clock.now_us(),
            )

        await tick_path.process([event(SYMBOL), event("GBPUSD")])  # the scored key first
        for _ in range(300):
            if len(order) == 2:
                break
            await asyncio.sleep(0.01)
        assert order == ["GBPUSD", SYMBOL]


class TestRounds:
    """On the in-process bus the tick path takes its input in the publisher's turn and
    queues it: the events published in one turn of the event loop are run as one round in
    the next, their keys scored with one model call; one arriving while a round runs
    waits for it (one round at a time), in order."""

    @staticmethod
    def event(kernel: Kernel, tenant: str, connection: str, first_seq: int) -> TicksAccepted:
        rows = tick_rows(1_700_000_000_000 + first_seq * STEP_MS, [1.1, 1.1001], first_seq)
        return TicksAccepted(
            tenant,
            SYMBOL,
            0,
            tuple(TickRow(*row) for row in rows),
            connection=connection,
            signals="every_tick",
            received_us=kernel.clock.now_us(),
        )

    @staticmethod
    async def frames_in_turn(kernel: Kernel, tenant: str, connection: str) -> list[int]:
        seqs: list[int] = []

        async def on(message: BusMessage) -> None:
            seqs.extend(json.loads(line)["seq"] for line in message.data.split(b"\n") if line)

        await subscribe_in_turn(kernel.infra.bus, connection_topic(tenant, connection), on)
        return seqs

    async def publish(self, kernel: Kernel, event: TicksAccepted) -> None:
        topic = ticks_topic(event.tenant_id, event.symbol)
        await kernel.infra.bus.publish(topic, event.to_json())

    async def test_keys_published_in_one_turn_are_scored_with_one_model_call(
        self, kernel: Kernel, tmp_path: Path
    ) -> None:
        await train_and_promote(kernel, tmp_path / "home", {})
        data = await stored_market(kernel, 400)
        await stored_market(kernel, 400, symbol="GBPUSD")
        assert kernel.trading is not None
        tick_path = kernel.trading.tick_path
        forming_ts = int(data.ts_ms[-1]) + TF.milliseconds
        await tick_path.warm(TENANT, [SYMBOL, "GBPUSD"], forming_ts)
        frames = await frames_of(kernel, TENANT, "two")
        close = float(data.close[-1])
        rows = tick_rows(forming_ts, [close, round(close * 1.0002, 5)])
        before = dataclasses.replace(tick_path.stats)

        # Both published before the event loop turns: one round, one model call.
        await asyncio.gather(
            send_ticks(kernel, rows, connection="two", symbol=SYMBOL),
            send_ticks(kernel, rows, connection="two", symbol="GBPUSD"),
        )
        await until(frames, 4)

        assert sorted((f["symbol"], f["seq"]) for f in frames) == [
            ("EURUSD", 1),
            ("EURUSD", 2),
            ("GBPUSD", 1),
            ("GBPUSD", 2),
        ]
        assert all(f["model"] == "fx-default@1" for f in frames)
        assert tick_path.stats.scored == before.scored + 2
        assert tick_path.stats.model_calls == before.model_calls + 1
        # Each key's answer is the one a model call of its own gives.
        model = await tick_path._models.resolve(TENANT)
        for symbol in (SYMBOL, "GBPUSD"):
            event = TicksAccepted(TENANT, symbol, 0, tuple(TickRow(*r) for r in rows))
            state = tick_path._keys[(TENANT, symbol)]
            last = rows[-1]
            prepared = tick_path._scorer.prepare(event, state, model, bid=last[1], ask=last[2])
            assert isinstance(prepared, PreparedScore)
            assert predict_all([prepared]) == 1
            alone = await tick_path._scorer.finish(prepared)
            frame = next(f for f in frames if f["symbol"] == symbol and f["seq"] == 2)
            assert (frame["action"], frame["confidence"]) == (alone.action, alone.confidence)

    async def test_an_event_arriving_while_a_batch_runs_waits_for_it(self, kernel: Kernel) -> None:
        assert kernel.trading is not None
        slow = SLOW_TENANT
        release = hold_book_loads(kernel.trading.desk, slow)
        quick = await self.frames_in_turn(kernel, TENANT, "q")
        await self.publish(kernel, self.event(kernel, TENANT, "q", 1))
        for _ in range(300):
            if quick == [1, 2]:
                break
            await asyncio.sleep(0.01)
        assert quick == [1, 2]
        # One round: the slow tenant's first ticks (its book still loading) and the quick
        # tenant's, which is answered while the round waits for the slow book.
        await self.publish(kernel, self.event(kernel, slow, "s", 1))
        await self.publish(kernel, self.event(kernel, TENANT, "q", 3))
        for _ in range(300):
            if quick == [1, 2, 3, 4]:
                break
            await asyncio.sleep(0.01)
        assert quick == [1, 2, 3, 4]
        await self.publish(kernel, self.event(kernel, TENANT, "q", 5))  # the round still runs
        await asyncio.sleep(0.1)
        assert quick == [1, 2, 3, 4]
        release.set()
        for _ in range(300):
            if quick == [1, 2, 3, 4, 5, 6]:
                break
            await asyncio.sleep(0.01)
        assert quick == [1, 2, 3, 4, 5, 6]
