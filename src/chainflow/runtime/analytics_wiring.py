"""Build the analytics service from the kernel: closed trades from the paper desk, latency
from the per-tick frames on the bus, and the router."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from chainflow.analytics.api import ClosedTrade, NoTrades, TradeSource
from chainflow.analytics.routes import build_analytics_router
from chainflow.analytics.service import AnalyticsService
from chainflow.runtime.analytics_exports import build_export_service, build_exports_router
from chainflow.runtime.analytics_extras import AnalyticsExtras
from chainflow.runtime.analytics_reports import AnalyticsReports
from chainflow.runtime.component import ServiceComponent
from chainflow.trading.api import connection_topic
from chainflow.trading.paper.attribution import SignalTag, reason_template
from chainflow.trading.paper.positions import PaperTrade
from chainflow.trading.service import TradingService

if TYPE_CHECKING:
    from chainflow.ml.live.service import MlService
    from chainflow.notify.service import NotifyService
    from chainflow.runtime.kernel import Kernel


def frames_subject() -> str:
    """Return the wildcard of every ``trading.connection.<tenant>.<connection>``."""
    one = connection_topic("t", "c")
    return one.rsplit(".", 2)[0] + ".*.*"


def closed_trade(seq: int, trade: PaperTrade, tag: SignalTag | None) -> ClosedTrade:
    """Return a paper trade with the tags of the signal that opened it."""
    reasons = tuple(sorted({reason_template(r) for r in tag.reasons})) if tag else ()
    return ClosedTrade(
        seq=seq,
        symbol=trade.symbol,
        side=str(trade.side.value),
        lots=trade.lots,
        entry_ts=trade.entry_ts,
        exit_ts=trade.exit_ts,
        entry_price=trade.entry_price,
        exit_price=trade.exit_price,
        pnl=trade.pnl,
        model=tag.model if tag is not None else "",
        regime=(tag.regime or "") if tag is not None else "",
        reasons=reasons,
        exit_reason=str(trade.exit_reason.value),
    )


class PaperDeskTrades:
    """The closed trades of the trading service's paper accounts in this process.

    A trade's ``seq`` is its index in the account's trade list, which only grows (and is
    saved whole with the account), so it stays the same across restarts.
    """

    def __init__(self, trading: TradingService) -> None:
        self._trading = trading

    def tenants(self) -> Sequence[str]:
        return self._trading.desk.tenants()

    def closed_trades(self, tenant_id: str, from_seq: int) -> Sequence[ClosedTrade]:
        desk = self._trading.desk
        if tenant_id not in desk.tenants():
            return ()
        book = desk.book(tenant_id)
        trades = book.account.trades[from_seq:]
        return [
            closed_trade(seq, trade, book.tags.get(trade.signal_id))
            for seq, trade in enumerate(trades, start=from_seq)
        ]

    def starting_balance(self, tenant_id: str) -> float:
        desk = self._trading.desk
        if tenant_id in desk.tenants():
            return desk.book(tenant_id).account.starting_balance
        return desk.starting_balance


def trade_source(kernel: Kernel, trading: TradingService | None) -> TradeSource:
    """Return the paper desk's trades when trading runs here, else no trades."""
    if trading is None:
        return NoTrades(kernel.settings.trading.paper_equity)
    return PaperDeskTrades(trading)


def build_analytics_component(
    kernel: Kernel,
    *,
    trading: TradingService | None,
    ml: MlService | None,
    notify: NotifyService | None,
) -> ServiceComponent:
    """Build ``AnalyticsService`` and its router (``/api/v1/analytics``); ``trading``,
    ``ml`` and ``notify`` are those services when they run in this process."""
    infra = kernel.infra
    service = AnalyticsService(
        store=infra.timeseries,
        bus=infra.bus,
        source=trade_source(kernel, trading),
        clock=kernel.clock,
        settings=kernel.settings.analytics,
        frames_subject=frames_subject(),
    )
    router = build_analytics_router(service=service)
    exports = build_export_service(kernel)
    router.include_router(build_exports_router(service=exports, clock=kernel.clock))
    # BI, drift, live dashboards; scheduled e-mail reports
    extras = AnalyticsExtras(kernel, service, frames_subject(), trading=trading, ml=ml)
    reports = AnalyticsReports(kernel, service, notify=notify)
    mounted = extras.mount(router)
    mounted.include_router(reports.router())
    return ServiceComponent(
        name="analytics",
        router=mounted,
        on_start=reports.start_after(extras.start_after(service.start)),
        on_stop=reports.stop_before(extras.stop_before(service.stop)),
    )
