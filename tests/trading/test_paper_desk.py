"""The paper desk: signals become orders filled on later ticks; breaker; attribution adds up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chainflow.risk.api import Instrument, PortfolioSnapshot
from chainflow.trading.decision.risk_check import risk_check, size_and_check
from chainflow.trading.decision.sizing import SizingPolicy
from chainflow.trading.decision.synthesis import Decision, TradingPreferences
from chainflow.trading.paper.attribution import is_consistent, reason_template
from chainflow.trading.paper.desk import PaperDesk, PaperSignal, instrument_for
from chainflow.trading.paper.instruments import quote_rate, risk_instrument

TENANT = "tenant-a"
T0 = 1_700_000_000_000  # Tuesday 2023-11-14 22:13:20 UTC


def signal(action: str, size: float, ts: int, **extra: object) -> PaperSignal:
    fields: dict[str, object] = {
        "symbol": "EURUSD",
        "ts": ts,
        "action": action,
        "size": size,
        "stop_loss": None,
        "take_profit": None,
        "model": "fx-default@1",
        "reasons": (f"p(up) 0.61 vs p(down) 0.20: edge 0.41 ≥ 0.25 ({action})",),
        "regime": "bull/normal",
    }
    fields.update(extra)
    return PaperSignal(**fields)  # type: ignore[arg-type]


class TestOrders:
    async def test_signals_fill_on_the_next_tick_and_attribution_adds_up(self) -> None:
        desk = PaperDesk(starting_balance=10_000.0)
        await desk.on_tick(TENANT, "EURUSD", T0, 1.10000, 1.10010)  # no book yet: ignored
        desk.on_signal(TENANT, signal("buy", 0.5, T0))
        assert desk.intended_lots(TENANT, "EURUSD") == 0.5
        assert desk.position_lots(TENANT, "EURUSD") == 0.0  # not at the signal's own time
        await desk.on_tick(TENANT, "EURUSD", T0 + 1_000, 1.10020, 1.10030)
        assert desk.position_lots(TENANT, "EURUSD") == 0.5
        view = desk.account_view(TENANT)
        assert view["positions"][0]["entry_price"] == 1.10030  # the ask of the later tick

        desk.on_signal(TENANT, signal("sell", 0.2, T0 + 2_000, model="fx-default@2"))
        await desk.on_tick(TENANT, "EURUSD", T0 + 3_000, 1.10130, 1.10140)
        assert desk.position_lots(TENANT, "EURUSD") == pytest.approx(-0.2)
        # Closed 0.5 long at the bid 1.10130: +0.00100 × 100 000 × 0.5 = 50.00.
        view = desk.account_view(TENANT)
        assert view["trades"][0]["pnl"] == pytest.approx(50.0)
        await desk.on_tick(TENANT, "EURUSD", T0 + 4_000, 1.10100, 1.10110)
        # Short 0.2 from 1.10130, marked at the ask 1.10110: +0.00020 × 20 000 = 4.00.
        attribution = desk.attribution(TENANT)
        assert attribution.total.realized == pytest.approx(50.0)
        assert attribution.total.unrealized == pytest.approx(4.0)
        assert is_consistent(attribution)
        assert attribution.account_pnl == pytest.approx(54.0)
        by_model = {k: b.pnl for k, b in attribution.by_model.items()}
        assert by_model == pytest.approx({"fx-default@1": 50.0, "fx-default@2": 4.0})
        assert attribution.by_model["fx-default@1"].hit_rate == 1.0
        assert set(attribution.by_regime) == {"bull/normal"}
        assert sum(b.pnl for b in attribution.by_symbol.values()) == pytest.approx(54.0)
        reasons = attribution.to_dict()["by_reason"]
        assert {r["key"] for r in reasons} == {
            "p(up) # vs p(down) #: edge # ≥ # (buy)",
            "p(up) # vs p(down) #: edge # ≥ # (sell)",
        }

        desk.on_signal(TENANT, signal("hold", 0.0, T0 + 5_000))
        await desk.on_tick(TENANT, "EURUSD", T0 + 6_000, 1.10090, 1.10100)
        assert desk.position_lots(TENANT, "EURUSD") == 0.0
        attribution = desk.attribution(TENANT)
        assert attribution.total.unrealized == 0.0 and is_consistent(attribution)
        assert attribution.total.closed_trades == 2

    async def test_a_limit_entry_waits_for_its_price_and_a_new_signal_replaces_it(self) -> None:
        desk = PaperDesk(starting_balance=10_000.0)
        desk.on_signal(TENANT, signal("buy", 0.1, T0, limit_price=1.10005))
        await desk.on_tick(TENANT, "EURUSD", T0 + 1_000, 1.10000, 1.10010)  # ask above
        assert desk.position_lots(TENANT, "EURUSD") == 0.0
        await desk.on_tick(TENANT, "EURUSD", T0 + 2_000, 1.09995, 1.10005)  # ask reaches it
        assert desk.position_lots(TENANT, "EURUSD") == pytest.approx(0.1)
        desk.on_signal(TENANT, signal("sell", 0.1, T0 + 3_000, limit_price=1.20000))
        assert len(desk.book(TENANT).account.pending_orders) == 1
        desk.on_signal(TENANT, signal("hold", 0.0, T0 + 4_000))  # cancels the waiting limit
        pending = list(desk.book(TENANT).account.pending_orders.values())
        assert len(pending) == 1 and pending[0].limit_price is None  # the flattening order

    def test_instruments_and_quote_conversion(self) -> None:
        assert instrument_for("USDJPY").price_digits == 3
        assert instrument_for("EURUSD").price_digits == 5
        assert quote_rate("USDJPY", 150.0, 150.02) == pytest.approx(1 / 150.01)
        assert quote_rate("EURUSD", 1.1, 1.1001) == 1.0

    def test_a_usd_based_pair_is_sized_in_account_currency(self) -> None:
        # USDJPY at 149.33, ATR 0.087: the stop 1.5 ATR above, at 149.461 (3 digits), is
        # 0.131 JPY away: 0.131 × 100 000 / 149.33 = 87.72 USD per lot; 1% of 10 000 → 1.13.
        decision = Decision("USDJPY", T0, "m@1", "sell", 0.7, -0.5, ("edge",))
        checked = size_and_check(
            decision,
            entry=149.33,
            atr=0.087,
            policy=SizingPolicy(10_000.0, 0.01, 1.5, 3.0),
            preferences=TradingPreferences(tier="pro"),
            account=PortfolioSnapshot(
                tenant_id=TENANT,
                account_currency="USD",
                balance=10_000.0,
                equity=10_000.0,
                starting_balance=10_000.0,
                peak_equity=10_000.0,
                day_start_equity=10_000.0,
            ),
            breaker=None,
        )
        assert checked.action == "sell" and checked.size == 1.13
        assert checked.stop_loss == pytest.approx(149.461) and risk_instrument(
            "USDJPY", 149.33
        ).quote_to_account == pytest.approx(1 / 149.33)
        assert reason_template("edge 0.41 ≥ 0.25, risk 1.5%") == "edge # ≥ #, risk #"


class TestCircuitBreaker:
    async def test_daily_loss_trips_once_halts_entries_and_resets_next_day(self) -> None:
        tripped: list[tuple[str, str]] = []

        async def on_breaker(tenant: str, reason: str) -> None:
            tripped.append((tenant, reason))

        desk = PaperDesk(starting_balance=10_000.0, max_daily_loss_pct=2.0, on_breaker=on_breaker)
        desk.on_signal(TENANT, signal("buy", 1.0, T0))
        await desk.on_tick(TENANT, "EURUSD", T0 + 1_000, 1.10000, 1.10010)
        assert desk.halted(TENANT) is None
        # 1 lot long from 1.10010: the day starts at the first tick's equity, 9 990.00; a bid
        # of 1.09800 makes it 9 790.00: 2.00% lost, the limit.
        await desk.on_tick(TENANT, "EURUSD", T0 + 2_000, 1.09800, 1.09810)
        await desk.on_tick(TENANT, "EURUSD", T0 + 3_000, 1.09790, 1.09800)
        assert len(tripped) == 1 and tripped[0][0] == TENANT
        assert tripped[0][1] == (
            "daily loss 2.00% reached the limit 2% (equity 9790.00, day start 9990.00)"
        )
        assert desk.halted(TENANT) == tripped[0][1]

        portfolio = await desk.portfolio(TENANT)
        assert portfolio.breaker == tripped[0][1] and portfolio.positions[0].lots == 1.0
        checked = risk_check(
            action="sell",
            size=0.5,
            entry=1.098,
            stop_loss=1.1,
            take_profit=None,
            instrument=Instrument("GBPUSD"),
            equity=portfolio.equity,
            positions=portfolio.positions,
            prices=portfolio.prices,
            preferences=_preferences(),
            breaker=desk.book(TENANT).breaker,
        )
        assert checked.action == "hold" and checked.size == 0.0
        assert checked.reasons[0].startswith("risk refused the sell: circuit breaker tripped")

        next_day = (T0 // 86_400_000 + 1) * 86_400_000 + 60_000
        await desk.on_tick(TENANT, "EURUSD", next_day, 1.09790, 1.09800)
        assert desk.halted(TENANT) is None  # a daily-loss trip clears with the new day
        assert len(tripped) == 1

    async def test_drawdown_trip_stays_over_days(self) -> None:
        desk = PaperDesk(starting_balance=10_000.0, max_daily_loss_pct=50.0, max_drawdown_pct=3.0)
        desk.on_signal(TENANT, signal("buy", 1.0, T0))
        await desk.on_tick(TENANT, "EURUSD", T0 + 1_000, 1.10000, 1.10010)
        await desk.on_tick(TENANT, "EURUSD", T0 + 2_000, 1.09700, 1.09710)  # -310: 3.1%
        reason = desk.halted(TENANT)
        assert reason is not None and reason.startswith("drawdown 3.10%")
        await desk.on_tick(TENANT, "EURUSD", T0 + 3 * 86_400_000, 1.10500, 1.10510)
        assert desk.halted(TENANT) == reason


def _preferences():  # type: ignore[no-untyped-def]
    from chainflow.trading.decision.synthesis import TradingPreferences

    return TradingPreferences(max_daily_loss_pct=2.0)


class TestBookLoad:
    """``ensure`` loads a tenant's saved book once; a caller during the load waits for it."""

    @staticmethod
    async def saved() -> PaperDesk:
        desk = PaperDesk(starting_balance=10_000.0)
        await desk.ensure(TENANT)
        desk.on_signal(TENANT, signal("buy", 0.5, T0))
        await desk.on_tick(TENANT, "EURUSD", T0 + 1, 1.10000, 1.10010)
        return desk

    async def test_callers_during_a_load_wait_for_the_saved_book(self) -> None:
        saved = await self.saved()
        document = saved.dump(TENANT)
        release = asyncio.Event()
        loads: list[str] = []

        async def loader(tenant_id: str) -> dict[str, Any] | None:
            loads.append(tenant_id)
            await release.wait()
            return document

        desk = PaperDesk(starting_balance=10_000.0, loader=loader)
        first = asyncio.create_task(desk.ensure(TENANT))
        await asyncio.sleep(0)
        assert not desk.ready(TENANT)
        second = asyncio.create_task(desk.ensure(TENANT))
        await asyncio.sleep(0.01)
        assert not second.done()  # before: it returned at once, with no book loaded
        release.set()
        await asyncio.gather(first, second)
        assert desk.ready(TENANT) and loads == [TENANT]
        assert desk.position_lots(TENANT, "EURUSD") == saved.position_lots(TENANT, "EURUSD")

    async def test_a_failed_load_is_tried_again(self) -> None:
        calls: list[str] = []

        async def loader(tenant_id: str) -> dict[str, Any] | None:
            calls.append(tenant_id)
            if len(calls) == 1:
                raise ConnectionError("database restarting")
            return None

        desk = PaperDesk(starting_balance=10_000.0, loader=loader)
        with pytest.raises(ConnectionError):
            await desk.ensure(TENANT)
        assert not desk.ready(TENANT)
        await desk.ensure(TENANT)
        assert desk.ready(TENANT) and calls == [TENANT, TENANT]

    async def test_a_book_forgotten_during_its_load_is_not_opened(self) -> None:
        document = (await self.saved()).dump(TENANT)
        release = asyncio.Event()

        async def loader(tenant_id: str) -> dict[str, Any] | None:
            assert tenant_id == TENANT
            await release.wait()
            return document  # not opened: the tenant moved to another replica meanwhile

        desk = PaperDesk(starting_balance=10_000.0, loader=loader)
        load = asyncio.create_task(desk.ensure(TENANT))
        await asyncio.sleep(0)
        desk.forget([TENANT])
        release.set()
        await load
        assert not desk.holds(TENANT)
