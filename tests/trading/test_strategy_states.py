"""The bar-close strategy states: saved with the paper book, continued where they stood; a
save never sees a bar half run (``SaveGate``)."""

from __future__ import annotations

import asyncio

import pytest

from chainflow.trading.api import input_from_prediction
from chainflow.trading.decision.strategy import StrategyContext
from chainflow.trading.decision.synthesis import TradingPreferences
from chainflow.trading.errors import InvalidTradingStateError
from chainflow.trading.paper.save_gate import SaveGate
from chainflow.trading.strategy_states import StrategyStates
from tests.trading.test_service_risk import BAR_MS, DOWN, T0, UP, prediction

TENANT = "0190a5c0-0000-7000-8000-00000000st01"
OTHER = "0190a5c0-0000-7000-8000-00000000st02"
KEY = (TENANT, "EURUSD", "M5")
PREFERENCES = TradingPreferences()


def run(
    states: StrategyStates, key: tuple[str, str, str], pattern: list[dict[str, float]]
) -> list[str]:
    """Run ``pattern`` bar by bar through the key's state; return the stable actions."""
    actions = []
    state = states.state_for(key, PREFERENCES)
    start = 0 if state.last_ts is None else (state.last_ts - T0) // BAR_MS + 1
    for i, probabilities in enumerate(pattern, start=start):
        made = prediction(key[0], T0 + i * BAR_MS, probabilities)
        decision = state.strategy.on_bar(StrategyContext(input_from_prediction(made)))
        state.action, state.last_ts = decision.action, made.ts
        actions.append(decision.action)
    return actions


PATTERN = [UP, UP, DOWN, UP, DOWN, DOWN, DOWN, UP, UP, UP]


class TestSavedStates:
    def test_a_restored_key_continues_exactly_as_if_never_moved(self) -> None:
        whole = run(StrategyStates(), KEY, PATTERN)
        first = StrategyStates()
        head = run(first, KEY, PATTERN[:4])
        moved = StrategyStates()
        moved.load(TENANT, first.dump(TENANT))
        assert head + run(moved, KEY, PATTERN[4:]) == whole

    def test_a_saved_state_not_yet_used_is_saved_again_unchanged(self) -> None:
        first = StrategyStates()
        run(first, KEY, PATTERN[:3])
        saved = first.dump(TENANT)
        loaded = StrategyStates()
        loaded.load(TENANT, saved)
        assert loaded.dump(TENANT) == saved
        assert loaded.tenants() == {TENANT}

    def test_a_key_in_use_keeps_its_live_state_over_a_loaded_one(self) -> None:
        states = StrategyStates()
        run(states, KEY, PATTERN[:5])
        live = states.dump(TENANT)
        older = StrategyStates()
        run(older, KEY, PATTERN[:2])
        states.load(TENANT, older.dump(TENANT))
        assert states.dump(TENANT) == live

    def test_forget_drops_only_the_tenants_named(self) -> None:
        states = StrategyStates()
        run(states, KEY, PATTERN[:2])
        run(states, (OTHER, "EURUSD", "M5"), PATTERN[:2])
        states.forget([TENANT])
        assert states.tenants() == {OTHER}
        assert states.dump(TENANT) == []

    def test_put_back_undoes_a_bar(self) -> None:
        states = StrategyStates()
        run(states, KEY, PATTERN[:3])
        state = states.state_for(KEY, PREFERENCES)
        kept = state.saved()
        before = states.dump(TENANT)
        run(states, KEY, PATTERN[3:6])
        state.put_back(kept)
        assert states.dump(TENANT) == before

    @pytest.mark.parametrize(
        "item",
        [
            {"symbol": "EURUSD"},
            {
                "symbol": "EURUSD",
                "timeframe": "M5",
                "strategy": {},
                "action": "long",
                "issued": "hold",
                "last_ts": None,
            },
            {
                "symbol": "EURUSD",
                "timeframe": "M5",
                "strategy": [],
                "action": "buy",
                "issued": "hold",
                "last_ts": None,
            },
            {
                "symbol": "EURUSD",
                "timeframe": "M5",
                "strategy": {},
                "action": "buy",
                "issued": "hold",
                "last_ts": "yesterday",
            },
        ],
    )
    def test_a_malformed_saved_state_is_refused(self, item: dict[str, object]) -> None:
        with pytest.raises(InvalidTradingStateError, match="expected a saved strategy state"):
            StrategyStates().load(TENANT, [item])


class TestSaveGate:
    async def test_a_save_waits_for_the_steps_midway_and_holds_new_ones_back(self) -> None:
        gate, events = SaveGate(), []
        step_in, step_go = asyncio.Event(), asyncio.Event()

        async def step(name: str, hold: asyncio.Event | None = None) -> None:
            async with gate.step():
                events.append(f"{name} in")
                if hold is not None:
                    step_in.set()
                    await hold.wait()
                events.append(f"{name} out")

        async def save() -> None:
            async with gate.save():
                events.append("save in")
                await asyncio.sleep(0.01)
                events.append("save out")

        first = asyncio.create_task(step("a", step_go))
        await step_in.wait()
        saving = asyncio.create_task(save())
        await asyncio.sleep(0.01)
        assert "save in" not in events  # a bar is midway
        second = asyncio.create_task(step("b"))
        await asyncio.sleep(0.01)
        assert "b in" not in events  # held back behind the waiting save
        step_go.set()
        await asyncio.gather(first, saving, second)
        assert events == ["a in", "a out", "save in", "save out", "b in", "b out"]

    async def test_steps_run_together(self) -> None:
        gate, inside = SaveGate(), []
        both = asyncio.Event()

        async def step() -> None:
            async with gate.step():
                inside.append(1)
                if len(inside) == 2:
                    both.set()
                await asyncio.wait_for(both.wait(), 1.0)

        await asyncio.gather(step(), step())

    async def test_a_cancelled_save_lets_the_steps_go_on(self) -> None:
        gate, go = SaveGate(), asyncio.Event()

        async def step() -> None:
            async with gate.step():
                await go.wait()

        running = asyncio.create_task(step())
        await asyncio.sleep(0)
        saving = asyncio.create_task(gate.save().__aenter__())
        await asyncio.sleep(0.01)
        saving.cancel()
        await asyncio.gather(saving, return_exceptions=True)
        async with asyncio.timeout(1.0), gate.step():
            pass
        go.set()
        await running
