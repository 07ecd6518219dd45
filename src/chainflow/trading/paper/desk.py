"""One paper account per tenant, fed by the trading service's signals and the live ticks.

- **Signals** (the bar-close signals the service stores and publishes) become orders: a
  ``buy`` of ``size`` lots makes the position ``+size`` (reversing a short in one order,
  netting), a ``sell`` makes it ``-size``, a ``hold`` flattens it. Orders carry the signal's
  stop loss and take profit and fill on the symbol's *next* tick at its ask (buy) or bid
  (sell) — ``PaperAccount`` never fills at the signal's own time.
- **Ticks** (every accepted, in-order tick of the tenant) fill queued orders, trigger stops
  and the stop-out (``stop_out_level``, MT5's 50 % by default: the account closes its most
  losing position while equity < level × margin), book swaps at rollover and mark the
  equity. Each tick also updates the tenant's circuit breaker on daily loss (from the
  equity at the first tick of the UTC day) and drawdown (from the peak): once tripped,
  ``halted(tenant)`` gives the reason, new signals become ``hold`` (which flattens) and
  ``on_breaker`` is called once.
- **Executions** (``{"type":"execution",...}`` from the MT5 client) are reconciled against
  the paper fills (slippage of the real fill), without changing the paper account.
- **Attribution** of every closed trade and open position to the signal that opened it:
  ``chainflow.trading.paper.attribution``.

Accounts live in this process (snapshotted as JSON by ``snapshot``); an instrument's specs
are the defaults of its symbol (``instrument_for``). Quotes of a pair whose base currency is
the account currency (USDJPY in a USD account) are converted at 1 / price.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from chainflow.core.ids import new_id
from chainflow.risk.api import (
    CircuitBreaker,
    Instrument,
    PortfolioSnapshot,
    Position,
)
from chainflow.trading.errors import InvalidTradingStateError
from chainflow.trading.paper.account import PaperAccount
from chainflow.trading.paper.attribution import Attribution, SignalTag, attribute
from chainflow.trading.paper.instruments import ACCOUNT_CURRENCY, paper_instrument, quote_rate
from chainflow.trading.paper.positions import (
    OrderKind,
    OrderSide,
    PaperEvent,
    PaperOrder,
    PaperOrderRejected,
)
from chainflow.trading.paper.reconcile import PaperReconciliation, PaperReconciliationUnmatched

DAY_MS = 86_400_000
BreakerHook = Callable[[str, str], Awaitable[None]]  # tenant, reason
Loader = Callable[[str], Awaitable[Mapping[str, Any] | None]]


instrument_for = paper_instrument  # the desk's instrument specs (trading.paper.instruments)


@dataclass(slots=True)
class TenantBook:
    account: PaperAccount
    breaker: CircuitBreaker
    tags: dict[str, SignalTag] = field(default_factory=dict)
    day: int | None = None
    day_start_equity: float = 0.0
    peak_equity: float = 0.0
    notified: bool = False


@dataclass(frozen=True, slots=True)
class PaperSignal:
    """What the desk needs of an issued signal (``SignalIssued`` plus the context)."""

    symbol: str
    ts: int
    action: str
    size: float
    stop_loss: float | None
    take_profit: float | None
    model: str
    reasons: tuple[str, ...]
    regime: str | None = None
    limit_price: float | None = None  # a limit entry (execution plan), else market


class PaperDesk:
    """Every tenant's paper account; see the module doc."""

    def __init__(
        self,
        *,
        starting_balance: float,
        leverage: float = 30.0,
        stop_out_level: float = 0.5,
        rollover_hour_utc: int = 21,
        max_daily_loss_pct: float = 5.0,
        max_drawdown_pct: float = 20.0,
        on_breaker: BreakerHook | None = None,
        loader: Loader | None = None,
    ) -> None:
        self._loader = loader  # the saved document of a tenant's book (after a restart)
        self._checked: set[str] = set()
        self._loading: dict[str, asyncio.Future[None]] = {}  # books being loaded
        self._dirty: set[str] = set()
        self.starting_balance = starting_balance
        self.leverage = leverage
        self.stop_out_level = stop_out_level
        self.rollover_hour_utc = rollover_hour_utc
        self._limits = (max_daily_loss_pct, max_drawdown_pct)
        self._on_breaker = on_breaker
        self._books: dict[str, TenantBook] = {}

    async def ensure(self, tenant_id: str) -> None:
        """Load the tenant's saved book once per process (before its first tick or signal).

        A caller while the load runs waits for that same load; a load that failed is tried
        again by the next caller (never an empty book over the saved one).
        """
        if tenant_id in self._checked:
            loading = self._loading.get(tenant_id)
            if loading is not None:
                await asyncio.shield(loading)
            return
        self._checked.add(tenant_id)
        if self._loader is None or tenant_id in self._books:
            return
        loading = asyncio.get_running_loop().create_future()
        self._loading[tenant_id] = loading
        try:
            document = await self._loader(tenant_id)
            forgotten = tenant_id not in self._checked  # its partition moved meanwhile
            if document is not None and tenant_id not in self._books and not forgotten:
                self.load(tenant_id, document)
        except BaseException:
            self._checked.discard(tenant_id)
            raise
        finally:
            del self._loading[tenant_id]
            loading.set_result(None)

    def ready(self, tenant_id: str) -> bool:
        """Whether ``ensure`` would return at once (the tenant's book is loaded or known
        to have none saved)."""
        return tenant_id in self._checked and tenant_id not in self._loading

    def holds(self, tenant_id: str) -> bool:
        """Return whether the tenant's book is open in this process."""
        return tenant_id in self._books

    def forget(self, tenant_ids: Iterable[str]) -> None:
        """Drop the books of ``tenant_ids`` (saved first by the caller): their partition
        went to another replica, which loads them; taken back, they are loaded again."""
        for tenant_id in tenant_ids:
            self._books.pop(tenant_id, None)
            self._checked.discard(tenant_id)
            self._dirty.discard(tenant_id)

    def take_dirty(self) -> list[str]:
        """Return (and forget) the tenants whose book changed since the last call."""
        dirty, self._dirty = sorted(self._dirty), set()
        return dirty

    def mark_dirty(self, tenant_ids: Iterable[str]) -> None:
        """Mark books as changed again (a save that took them did not finish)."""
        self._dirty.update(tenant_ids)

    def book(self, tenant_id: str) -> TenantBook:
        """Return the tenant's book, opening its account on first use."""
        found = self._books.get(tenant_id)
        if found is None:
            self._dirty.add(tenant_id)
            account = PaperAccount(
                [],
                starting_balance=self.starting_balance,
                leverage=self.leverage,
                stop_out_level=self.stop_out_level,
                account_currency=ACCOUNT_CURRENCY,
                rollover_hour_utc=self.rollover_hour_utc,
            )
            found = self._books[tenant_id] = TenantBook(
                account,
                CircuitBreaker(*self._limits),
                peak_equity=account.starting_balance,
                day_start_equity=account.starting_balance,
            )
        return found

    def set_limits(
        self, tenant_id: str, max_daily_loss_pct: float, max_drawdown_pct: float
    ) -> None:
        """Use the tenant's own loss limits from now on (a trip in force stays)."""
        book = self.book(tenant_id)
        current = book.breaker
        if (current.max_daily_loss_pct, current.max_drawdown_pct) == (
            max_daily_loss_pct,
            max_drawdown_pct,
        ):
            return
        if not current.is_tripped:  # a trip in force stays until its reset
            book.breaker = CircuitBreaker(max_daily_loss_pct, max_drawdown_pct)
            self._dirty.add(tenant_id)

    def equity(self, tenant_id: str) -> float:
        return self.book(tenant_id).account.equity

    def halted(self, tenant_id: str) -> str | None:
        """Return why the tenant's circuit breaker halts new signals, else None."""
        book = self._books.get(tenant_id)
        return None if book is None else book.breaker.tripped_reason

    def position_lots(self, tenant_id: str, symbol: str) -> float:
        """Return the signed open lots of ``symbol`` (0 when flat)."""
        position = self.book(tenant_id).account.positions.get(symbol)
        if position is None:
            return 0.0
        return position.lots if position.side == OrderSide.BUY else -position.lots

    def intended_lots(self, tenant_id: str, symbol: str) -> float:
        """Return the signed position once the queued orders of ``symbol`` fill.

        What the strategy is told it holds: the signals' intent, except where a stop loss,
        a take profit, a stop-out or a refused order made the account differ.
        """
        lots = self.position_lots(tenant_id, symbol)
        for order in self.book(tenant_id).account.pending_orders.values():
            if order.symbol == symbol:
                lots += order.lots if order.side == OrderSide.BUY else -order.lots
        return lots

    def on_signal(self, tenant_id: str, signal: PaperSignal) -> list[PaperOrderRejected]:
        """Queue the orders that take the position to the signal's target."""
        book = self.book(tenant_id)
        self._dirty.add(tenant_id)
        account = book.account
        if signal.symbol not in account.instruments:
            account.instruments[signal.symbol] = instrument_for(signal.symbol)
        signal_id = new_id()
        book.tags[signal_id] = SignalTag(
            signal_id=signal_id,
            symbol=signal.symbol,
            ts=signal.ts,
            action=signal.action,
            model=signal.model,
            regime=signal.regime,
            reasons=signal.reasons,
        )
        target = {"buy": signal.size, "sell": -signal.size}.get(signal.action, 0.0)
        for order_id, order in list(account.pending_orders.items()):
            if order.symbol == signal.symbol:  # a newer signal replaces what still waits
                account.cancel(order_id)
        delta = target - self.intended_lots(tenant_id, signal.symbol)
        if abs(delta) < 1e-12:
            return []
        limit = signal.limit_price if target and abs(delta) > 0 else None
        order = PaperOrder(
            symbol=signal.symbol,
            side=OrderSide.BUY if delta > 0 else OrderSide.SELL,
            lots=abs(delta),
            kind=OrderKind.LIMIT if limit is not None else OrderKind.MARKET,
            limit_price=limit,
            stop_loss=signal.stop_loss if target else None,
            take_profit=signal.take_profit if target else None,
            signal_id=signal_id,
            ts=signal.ts,
        )
        result = account.submit(order)
        return [result] if isinstance(result, PaperOrderRejected) else []

    async def on_tick(
        self, tenant_id: str, symbol: str, ts: int, bid: float, ask: float
    ) -> list[PaperEvent]:
        """Feed one in-order tick of the tenant; a tick older than the account's is skipped."""
        book = self._books.get(tenant_id)
        if book is None:
            return []  # no signal yet: nothing to fill or mark
        self._dirty.add(tenant_id)
        account = book.account
        if account.last_ts is not None and ts < account.last_ts:
            return []
        events = account.on_tick(symbol, ts, bid, ask, quote_rate(symbol, bid, ask))
        equity = account.equity
        day = ts // DAY_MS
        if day != book.day:
            book.day, book.day_start_equity = day, equity
            book.breaker.reset_for_new_day()
            book.notified = book.breaker.is_tripped
        book.peak_equity = max(book.peak_equity, equity)
        reason = book.breaker.update(equity, book.day_start_equity, book.peak_equity)
        if reason is not None and not book.notified:
            book.notified = True
            if self._on_breaker is not None:
                await self._on_breaker(tenant_id, reason)
        return events

    def on_execution(
        self, tenant_id: str, execution: Mapping[str, Any]
    ) -> PaperReconciliation | PaperReconciliationUnmatched:
        """Reconcile a real MT5 fill with the paper fill it matches."""
        self._dirty.add(tenant_id)
        return self.book(tenant_id).account.reconcile(execution)

    def tenants(self) -> list[str]:
        """Return the tenants with an open book in this process."""
        return list(self._books)

    def dump(self, tenant_id: str) -> dict[str, Any]:
        """Return the tenant's book as JSON-ready data (account, signal tags, breaker)."""
        book = self.book(tenant_id)
        breaker = book.breaker
        return {
            "version": 1,
            "account": json.loads(book.account.snapshot()),
            "tags": [asdict(tag) for tag in book.tags.values()],
            "breaker": {
                "max_daily_loss_pct": breaker.max_daily_loss_pct,
                "max_drawdown_pct": breaker.max_drawdown_pct,
                "kind": breaker.tripped_kind,
                "reason": breaker.tripped_reason,
            },
            "day": book.day,
            "day_start_equity": book.day_start_equity,
            "peak_equity": book.peak_equity,
            "notified": book.notified,
        }

    def load(self, tenant_id: str, document: Mapping[str, Any]) -> None:
        """Continue the tenant's book from ``dump``'s document; raise ``InvalidTradingStateError``
        if it is malformed."""
        try:
            account = PaperAccount.restore(json.dumps(document["account"]))
            raw = document["breaker"]
            breaker = CircuitBreaker(raw["max_daily_loss_pct"], raw["max_drawdown_pct"])
            if raw["kind"] is not None:
                breaker.restore_trip(raw["kind"], raw["reason"])
            tags = {
                t["signal_id"]: SignalTag(**{**t, "reasons": tuple(t["reasons"])})
                for t in document["tags"]
            }
            self._books[tenant_id] = TenantBook(
                account,
                breaker,
                tags,
                day=document["day"],
                day_start_equity=float(document["day_start_equity"]),
                peak_equity=float(document["peak_equity"]),
                notified=bool(document["notified"]),
            )
        except (KeyError, TypeError) as exc:
            raise InvalidTradingStateError(
                f"expected a paper account document; received {exc!r}"
            ) from exc

    def attribution(self, tenant_id: str) -> Attribution:
        """Return the tenant's P&L and hit rate by model, symbol, regime and reason."""
        book = self.book(tenant_id)
        return attribute(book.account, book.tags)

    async def portfolio(self, tenant_id: str) -> PortfolioSnapshot:
        """Return the tenant's account for the risk service (``risk.PortfolioSource``)."""
        return self.snapshot_of(tenant_id)

    def snapshot_of(self, tenant_id: str) -> PortfolioSnapshot:
        """Return the tenant's account as risk sees it (positions, marks, breaker)."""
        book = self.book(tenant_id)
        account = book.account
        positions = []
        prices: dict[str, float] = {}
        for symbol, position in account.positions.items():
            spec = account.instruments[symbol]
            rate = account.quote_rates.get(symbol, spec.quote_to_account)
            instrument = Instrument(
                symbol,
                contract_size=spec.contract_size,
                lot_step=spec.lot_step,
                min_lot=spec.min_lot,
                max_lot=spec.max_lot,
                price_digits=spec.price_digits,
                pip_size=spec.pip_size,
                quote_to_account=rate,
            )
            sign = 1.0 if position.side == OrderSide.BUY else -1.0
            positions.append(
                Position(symbol, sign * position.lots, position.entry_price, instrument)
            )
            bid, ask = account.quotes.get(symbol, (position.entry_price, position.entry_price))
            prices[symbol] = bid if sign > 0 else ask
        return PortfolioSnapshot(
            tenant_id=tenant_id,
            account_currency=account.account_currency,
            balance=account.balance,
            equity=account.equity,
            starting_balance=account.starting_balance,
            peak_equity=book.peak_equity,
            day_start_equity=book.day_start_equity,
            positions=tuple(positions),
            prices=prices,
            breaker=book.breaker.tripped_reason,
            ts=account.last_ts,
        )

    def account_view(self, tenant_id: str, curve_points: int = 500) -> dict[str, Any]:
        """Return the account for ``GET /api/v1/trading/paper``: summary, positions, trades."""
        book = self.book(tenant_id)
        account = book.account
        curve = list(account.equity_curve)[-curve_points:]
        return {
            "account": {
                **_public(account.summary()),
                "starting_balance": account.starting_balance,
                "day_start_equity": round(book.day_start_equity, 2),
                "peak_equity": round(book.peak_equity, 2),
                "halted": book.breaker.tripped_reason,
            },
            "positions": [_public(p) for p in account.positions.values()],
            "pending_orders": [
                {"order_id": order_id, **_public(order)}
                for order_id, order in account.pending_orders.items()
            ],
            "trades": [_public(t) for t in account.trades[-100:]],
            "reconciliations": [_public(r) for r in account.reconciliations[-100:]],
            "equity_curve": [{"ts": ts, "equity": round(e, 2)} for ts, e in curve],
        }


def _public(record: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in record.__dataclass_fields__:
        value = getattr(record, name)
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        elif hasattr(value, "value") and isinstance(value.value, str):  # enums
            value = value.value
        elif hasattr(value, "__dataclass_fields__"):
            value = _public(value)
        out[name] = value
    return out
