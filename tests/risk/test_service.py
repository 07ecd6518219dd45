"""RiskService on crafted account snapshots and bars stored in an embedded time-series store.

Every expected number is computed here from the same inputs: exposures by hand, parametric
VaR in closed form, historical VaR as the empirical quantile, stress by ``stress_portfolio``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from chainflow.bridge.bar_table import persist_bars
from chainflow.bridge.bars import AggregatedBar
from chainflow.core.auth import Tier
from chainflow.core.clock import SimulatedClock
from chainflow.core.errors import InvalidInput
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.core.settings import TimeSeriesSettings
from chainflow.risk.api import SCENARIOS, Instrument, Position, stress_portfolio
from chainflow.risk.portfolio import PortfolioSnapshot
from chainflow.risk.service import OrderProposal, RiskService
from chainflow.risk.settings_source import DefaultRiskSettings, TenantRiskSettings
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.timeseries import open_timeseries

TENANT = "0190a5c0-0000-7000-8000-0000000risk1"
OTHER = "0190a5c0-0000-7000-8000-0000000risk2"
START_MS = 1_700_002_800_000  # an H1 boundary
BARS = 200
EURUSD = Instrument("EURUSD")
GBPUSD = Instrument("GBPUSD")
PRICES = {"EURUSD": 1.1, "GBPUSD": 1.3}


class CraftedSource:
    """A ``PortfolioSource`` answering fixed snapshots, recording who was asked for."""

    def __init__(self, *snapshots: PortfolioSnapshot) -> None:
        self.snapshots = {s.tenant_id: s for s in snapshots}
        self.asked: list[str] = []

    async def portfolio(self, tenant_id: str) -> PortfolioSnapshot:
        self.asked.append(tenant_id)
        return self.snapshots[tenant_id]


def snapshot(
    positions: Sequence[Position] = (),
    *,
    tenant: str = TENANT,
    breaker: str | None = None,
    equity: float = 10_000.0,
    peak: float = 10_500.0,
    day_start: float = 10_100.0,
) -> PortfolioSnapshot:
    return PortfolioSnapshot(
        tenant,
        "USD",
        10_000.0,
        equity,
        10_000.0,
        peak,
        day_start,
        tuple(positions),
        PRICES,
        breaker,
        START_MS,
    )


TWO_POSITIONS = (
    Position("EURUSD", 1.0, 1.09, EURUSD),
    Position("GBPUSD", -0.5, 1.31, GBPUSD),
)


def closes_of(seed: int = 7, count: int = BARS) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, 0.6], [0.6, 1.0]]) * 0.001**2
    steps = rng.multivariate_normal([0.0, 0.0], cov, size=count - 1)
    paths = np.vstack([np.zeros(2), np.cumsum(steps, axis=0)])
    return {"EURUSD": 1.1 * np.exp(paths[:, 0]), "GBPUSD": 1.3 * np.exp(paths[:, 1])}


def bars_of(symbol: str, closes: np.ndarray, timeframe: Timeframe) -> list[AggregatedBar]:
    width = timeframe.milliseconds
    return [
        AggregatedBar(
            symbol,
            timeframe,
            START_MS + i * width,
            float(c),
            float(c),
            float(c),
            float(c),
            1.0,
            10,
            0.0001,
            0.0001,
            0.001,
            START_MS + i * width,
            START_MS + i * width + 1,
        )
        for i, c in enumerate(closes)
    ]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TimeSeriesStore]:
    opened = open_timeseries(f"duckdb://{tmp_path}/ts.duckdb", TimeSeriesSettings())
    await opened.start()
    yield opened
    await opened.close()


async def store_bars(
    store: TimeSeriesStore, closes: dict[str, np.ndarray], timeframe: Timeframe = Timeframe.H1
) -> None:
    for symbol, series in closes.items():
        await persist_bars(store, TenantId(TENANT), bars_of(symbol, series, timeframe))


def make_service(store: TimeSeriesStore, source: CraftedSource, **settings: float) -> RiskService:
    limits = DefaultRiskSettings(TenantRiskSettings(**settings))  # type: ignore[arg-type]
    return RiskService(
        source=source,
        store=store,
        settings_source=limits,
        clock=SimulatedClock(START_MS + 400 * Timeframe.H1.milliseconds),
        paths=5_000,
    )


def figure(report_var: object, method: str, confidence: float) -> object:
    return next(
        f
        for f in report_var.figures  # type: ignore[attr-defined]
        if f.method == method and f.confidence == confidence
    )


class TestReport:
    async def test_exposure_is_signed_notional_per_symbol_and_totals(
        self, store: TimeSeriesStore
    ) -> None:
        service = make_service(store, CraftedSource(snapshot(TWO_POSITIONS)))
        report = await service.report(TENANT, Tier.FREE)
        eur, gbp = report.exposure.symbols
        assert (eur.symbol, eur.lots, eur.price) == ("EURUSD", 1.0, 1.1)
        assert eur.notional == pytest.approx(110_000.0, rel=1e-12)
        assert eur.share_of_equity_pct == pytest.approx(1_100.0, rel=1e-12)
        assert (gbp.lots, gbp.gross_lots) == (-0.5, 0.5)
        assert gbp.notional == pytest.approx(-65_000.0, rel=1e-12)
        assert gbp.gross_notional == pytest.approx(65_000.0, rel=1e-12)
        assert report.exposure.gross_notional == pytest.approx(175_000.0, rel=1e-12)
        assert report.exposure.net_notional == pytest.approx(45_000.0, rel=1e-12)
        assert report.exposure.net_pct_of_equity == pytest.approx(450.0, rel=1e-12)

    async def test_var_matches_closed_form_and_empirical_quantile(
        self, store: TimeSeriesStore
    ) -> None:
        closes = closes_of()
        await store_bars(store, closes)
        service = make_service(store, CraftedSource(snapshot(TWO_POSITIONS)))
        var = (await service.report(TENANT, Tier.FREE)).var
        returns = np.column_stack([np.diff(np.log(closes[s])) for s in ("EURUSD", "GBPUSD")])
        values = np.array([110_000.0, -65_000.0])
        cov_day = np.cov(returns, rowvar=False, ddof=1) * 24
        assert (var.timeframe, var.observations, var.bars_per_day) == ("H1", BARS - 1, 24)
        for confidence in (0.95, 0.99):
            parametric = figure(var, "parametric", confidence)
            sigma = math.sqrt(values @ cov_day @ values)
            assert parametric.var == pytest.approx(norm.ppf(confidence) * sigma, rel=1e-9)
            historical = figure(var, "historical", confidence)
            quantile = np.quantile(-(returns @ values), confidence) * math.sqrt(24)
            assert historical.var == pytest.approx(quantile, rel=1e-9)
            for method in ("historical", "parametric", "monte_carlo"):
                found = figure(var, method, confidence)
                assert found.var > 0 and found.cvar >= found.var, found
            simulated = figure(var, "monte_carlo", confidence)
            assert simulated.var == pytest.approx(parametric.var, rel=0.1)
        correlation = np.corrcoef(returns, rowvar=False)[0, 1]
        assert [(c.first, c.second) for c in var.correlations] == [("EURUSD", "GBPUSD")]
        assert var.correlations[0].value == pytest.approx(correlation, rel=1e-9)

    async def test_falls_back_to_m5_when_h1_is_short(self, store: TimeSeriesStore) -> None:
        await store_bars(store, closes_of(count=80), Timeframe.M5)
        await store_bars(store, closes_of(count=10), Timeframe.H1)
        var = (
            await make_service(store, CraftedSource(snapshot(TWO_POSITIONS))).report(
                TENANT, Tier.FREE
            )
        ).var
        assert (var.timeframe, var.observations, var.bars_per_day) == ("M5", 79, 288)

    async def test_too_few_bars_gives_null_figures_with_the_reason(
        self, store: TimeSeriesStore
    ) -> None:
        await store_bars(store, {"EURUSD": closes_of(count=12)["EURUSD"]})
        service = make_service(store, CraftedSource(snapshot(TWO_POSITIONS)))
        var = (await service.report(TENANT, Tier.FREE)).var
        assert all(f.var is None and f.cvar is None for f in var.figures)
        reason = var.figures[0].reason
        assert reason is not None and "expected at least 31 aligned bars" in reason
        assert "EURUSD 12 H1" in reason and "GBPUSD 0 H1" in reason

    async def test_flat_account_reports_zeros_and_a_note(self, store: TimeSeriesStore) -> None:
        service = make_service(store, CraftedSource(snapshot()))
        report = await service.report(TENANT, Tier.FREE)
        assert report.exposure.symbols == () and report.exposure.gross_notional == 0
        assert all(f.var == 0 and f.cvar == 0 for f in report.var.figures)
        assert len(report.var.figures) == 6
        assert report.var.note == "no open positions; nothing at risk"
        assert all(s.pnl == 0 for s in report.stress)
        assert report.limits.open_positions.value == 0

    async def test_stress_equals_stress_portfolio_for_every_scenario(
        self, store: TimeSeriesStore
    ) -> None:
        service = make_service(store, CraftedSource(snapshot(TWO_POSITIONS)))
        stress = (await service.report(TENANT, Tier.FREE)).stress
        assert [s.scenario for s in stress] == list(SCENARIOS)
        for found in stress:
            direct = stress_portfolio(TWO_POSITIONS, PRICES, SCENARIOS[found.scenario])
            assert found.pnl == direct.total_pnl
            assert found.pnl_pct_of_equity == pytest.approx(direct.total_pnl / 100, rel=1e-12)
        usd_rally = next(s for s in stress if s.scenario == "USD rally")
        expected = 1.0 * 100_000 * 1.1 * (1 / 1.03 - 1) - 0.5 * 100_000 * 1.3 * (1 / 1.03 - 1)
        assert usd_rally.pnl == pytest.approx(expected, rel=1e-12)

    async def test_drawdown_daily_pnl_and_limit_use(self, store: TimeSeriesStore) -> None:
        service = make_service(store, CraftedSource(snapshot(TWO_POSITIONS)), leverage=30)
        report = await service.report(TENANT, Tier.FREE)
        drawdown, limits = report.drawdown, report.limits
        assert drawdown.drawdown == 500.0
        assert drawdown.drawdown_pct == pytest.approx(500 / 10_500 * 100, rel=1e-12)
        assert drawdown.daily_pnl == -100.0
        assert limits.daily_loss.value == pytest.approx(100 / 10_100 * 100, rel=1e-12)
        assert limits.daily_loss.used_pct == pytest.approx(100 / 10_100 * 100 / 5 * 100)
        assert limits.drawdown.used_pct == pytest.approx(500 / 10_500 * 100 / 20 * 100)
        assert (limits.open_positions.value, limits.open_positions.limit) == (2, 3)
        assert [(u.symbol, u.value, u.limit) for u in limits.symbol_exposure] == [
            ("EURUSD", 1.0, 2.0),
            ("GBPUSD", 0.5, 2.0),
        ]
        assert limits.correlated_exposure[0].limit == 10_000 * 30 * 0.5
        assert limits.risk_per_trade_budget == 100.0
        assert limits.leverage == 30
        assert report.breaker.tripped is False

    async def test_tripped_breaker_is_reported(self, store: TimeSeriesStore) -> None:
        source = CraftedSource(snapshot(TWO_POSITIONS, breaker="daily loss 5.2% reached"))
        breaker = (await make_service(store, source).report(TENANT, Tier.FREE)).breaker
        assert (breaker.tripped, breaker.reason, breaker.source) == (
            True,
            "daily loss 5.2% reached",
            "account",
        )

    async def test_limits_trip_the_breaker_when_the_account_does_not(
        self, store: TimeSeriesStore
    ) -> None:
        source = CraftedSource(snapshot(equity=7_900.0, peak=10_000.0, day_start=8_000.0))
        breaker = (await make_service(store, source).report(TENANT, Tier.FREE)).breaker
        assert breaker.tripped and breaker.source == "limits"
        assert breaker.reason is not None and breaker.reason.startswith("drawdown 21.00%")

    async def test_source_is_asked_for_the_callers_tenant_only(
        self, store: TimeSeriesStore
    ) -> None:
        source = CraftedSource(snapshot(TWO_POSITIONS), snapshot(tenant=OTHER))
        service = make_service(store, source)
        report = await service.report(OTHER, Tier.PRO)
        assert source.asked == [OTHER]
        assert report.tenant_id == OTHER and report.exposure.symbols == ()


class TestCheck:
    async def test_sizes_from_the_stop_at_the_per_trade_risk(self, store: TimeSeriesStore) -> None:
        service = make_service(store, CraftedSource(snapshot()))
        order = OrderProposal("eurusd", "buy", entry=1.1, stop_loss=1.095, take_profit=1.11)
        answer = await service.check(TENANT, Tier.FREE, order)
        # 1 % of 10,000 = 100 at risk; 50 pips on a standard lot lose 500: 0.2 lots.
        assert (answer.allowed, answer.lots, answer.requested_lots) == (True, 0.2, 0.2)
        assert answer.symbol == "EURUSD" and answer.entry_source == "request"
        assert answer.risk_amount == pytest.approx(100.0, rel=1e-9)
        assert answer.risk_pct == pytest.approx(1.0, rel=1e-9)
        assert answer.margin == pytest.approx(0.2 * 100_000 * 1.1 / 50, rel=1e-12)
        assert answer.reasons[0].startswith("sized 0.2 lots: 1% of equity 10000.00")

    async def test_resizes_requested_lots_to_the_per_trade_cap(
        self, store: TimeSeriesStore
    ) -> None:
        service = make_service(store, CraftedSource(snapshot()), max_risk_per_trade_pct=2.0)
        order = OrderProposal("EURUSD", "sell", lots=1.0, entry=1.1, stop_loss=1.105)
        answer = await service.check(TENANT, Tier.FREE, order)
        assert (answer.allowed, answer.lots, answer.requested_lots) == (True, 0.4, 1.0)
        assert answer.reasons == (
            "resized from 1 to 0.4 lots: per-trade risk 2% of equity (200.00)",
        )
        assert answer.risk_pct == pytest.approx(2.0, rel=1e-9)

    async def test_refuses_beyond_the_tiers_max_open_positions(
        self, store: TimeSeriesStore
    ) -> None:
        held = (*TWO_POSITIONS, Position("USDJPY", 0.1, 150.0, Instrument("USDJPY")))
        service = make_service(store, CraftedSource(snapshot(held)))
        order = OrderProposal("AUDUSD", "buy", lots=0.1, entry=0.65, stop_loss=0.64)
        refused = await service.check(TENANT, Tier.FREE, order)
        assert (refused.allowed, refused.lots) == (False, 0.0)
        assert refused.reasons == ("max open positions 3 reached (3 open)",)
        assert (await service.check(TENANT, Tier.PRO, order)).allowed is True

    async def test_tripped_breaker_refuses_with_its_reason(self, store: TimeSeriesStore) -> None:
        source = CraftedSource(snapshot(breaker="drawdown 20.10% reached the limit 20%"))
        order = OrderProposal("EURUSD", "buy", lots=0.1, entry=1.1, stop_loss=1.09)
        answer = await make_service(store, source).check(TENANT, Tier.PRO, order)
        assert answer.allowed is False and answer.lots == 0.0
        assert answer.reasons == ("circuit breaker tripped: drawdown 20.10% reached the limit 20%",)

    async def test_entry_defaults_to_the_latest_bar_and_var_grows(
        self, store: TimeSeriesStore
    ) -> None:
        closes = closes_of()
        await store_bars(store, closes)
        service = make_service(store, CraftedSource(snapshot(TWO_POSITIONS[:1])))
        order = OrderProposal("EURUSD", "buy", lots=0.5, stop_loss=1.0)
        answer = await service.check(TENANT, Tier.FREE, order)
        assert (answer.entry, answer.entry_source) == (float(closes["EURUSD"][-1]), "last_bar")
        returns = np.diff(np.log(closes["EURUSD"]))
        sigma_day = float(np.std(returns, ddof=1)) * math.sqrt(24)
        z = norm.ppf(0.99)
        assert answer.var_before == pytest.approx(z * sigma_day * 110_000, rel=1e-9)
        after = 110_000 + 0.5 * 100_000 * answer.entry
        assert answer.var_after == pytest.approx(z * sigma_day * after, rel=1e-9)

    @pytest.mark.parametrize(
        ("order", "message"),
        [
            (
                OrderProposal("EURUSD", "hold", lots=1),
                "expected side 'buy' or 'sell'; received 'hold'",
            ),
            (OrderProposal("EURUSD", "buy", lots=0), "expected lots > 0; received 0"),
            (OrderProposal("EURUSD", "buy", entry=1.1), "expected lots, or a stop_loss"),
            (
                OrderProposal("EURUSD", "buy", lots=1, entry=1.1, stop_loss=1.2),
                "expected stop_loss below the entry 1.1 for a buy; received 1.2",
            ),
            (
                OrderProposal("EURUSD", "sell", lots=1, entry=1.1, take_profit=1.2),
                "expected take_profit below the entry 1.1 for a sell; received 1.2",
            ),
            (OrderProposal("AUDUSD", "buy", lots=1), "expected an entry price, or stored bars"),
        ],
    )
    async def test_malformed_orders_raise_invalid_input(
        self, store: TimeSeriesStore, order: OrderProposal, message: str
    ) -> None:
        service = make_service(store, CraftedSource(snapshot()))
        with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(".", r"\.")):
            await service.check(TENANT, Tier.FREE, order)
