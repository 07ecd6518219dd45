"""The bot's commands for a linked chat, answered in Telegram HTML from the tenant's data.

Every answer reads only the binding's tenant (its ``TenantContext`` is built from the
binding, never from the message). Reading commands need ``signals:read`` in the role the
user had when linking; ``/mute`` and ``/unmute`` change only the user's own chat.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from chainflow.core.auth import ROLE_PERMISSIONS, Permission, Role
from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId, UserId
from chainflow.core.tenancy import TenantContext
from chainflow.notify.channels.telegram_format import escape_html
from chainflow.notify.telegram_bot.data import AccountView, TenantData
from chainflow.notify.telegram_bot.linking import ChatBinding, TelegramLinks
from chainflow.trading.api import SignalIssued

__all__ = ["BotCommands", "BotReply", "parse_duration"]

HELP = (
    "<b>ChainFlow bot</b>\n"
    "/status – terminals, served model, last signal per symbol\n"
    "/positions – open paper positions\n"
    "/pnl [day|week] – profit and loss\n"
    "/signals [SYMBOL] – the latest signals\n"
    "/mute 1h – hold notifications (30m, 2h, 1d; at most 7d)\n"
    "/unmute – resume notifications\n"
    "/help – this list"
)
MAX_MUTE = timedelta(days=7)
_DURATION = re.compile(r"^(\d{1,4})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_SYMBOL = re.compile(r"^[A-Z0-9._#-]{1,32}$")
READ_COMMANDS = frozenset({"status", "positions", "pnl", "signals"})
NO_DATA = "Trading data is not served by this ChainFlow process; try again later."


@dataclass(frozen=True, slots=True)
class BotReply:
    """An HTML answer, with optional inline buttons (rows of (label, callback data))."""

    text: str
    buttons: Sequence[Sequence[tuple[str, str]]] = field(default_factory=tuple)

    def reply_markup(self) -> dict[str, object] | None:
        if not self.buttons:
            return None
        rows = [[{"text": t, "callback_data": d} for t, d in row] for row in self.buttons]
        return {"inline_keyboard": rows}


def parse_duration(text: str) -> timedelta | None:
    """Return ``30m``/``1h``/``2d`` as a duration, or None when it is not one."""
    match = _DURATION.match(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        return None
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _money(value: float) -> str:
    return f"{value:+,.2f}"


class BotCommands:
    """Answers one command of a linked chat."""

    def __init__(self, *, data: TenantData | None, links: TelegramLinks, clock: Clock) -> None:
        self._data: TenantData = data or _NO_DATA
        self._has_data = data is not None
        self._links = links
        self._clock = clock
        self._handlers: dict[
            str, Callable[[ChatBinding, TenantContext, list[str]], Awaitable[BotReply]]
        ] = {
            "status": self.handle_status,
            "positions": self.handle_positions,
            "pnl": self.handle_pnl,
            "signals": self.handle_signals,
            "mute": self.handle_mute,
            "unmute": self.handle_unmute,
        }

    async def answer(self, binding: ChatBinding, text: str) -> BotReply:
        """Return the answer to ``text`` (``/command args``) for the chat of ``binding``."""
        words = text.strip().split()
        command = words[0].lstrip("/").split("@", 1)[0].lower() if words else "help"
        handler = self._handlers.get(command)
        if handler is None:
            return BotReply(HELP)
        if command in READ_COMMANDS and not _may_read(binding.role):
            return BotReply(f"Your role ({escape_html(binding.role)}) cannot read trading data.")
        if command in READ_COMMANDS and not self._has_data:
            return BotReply(NO_DATA)
        tenant = TenantContext(
            tenant_id=TenantId(binding.tenant_id),
            user_id=UserId(binding.user_id),
            role=binding.role,
        )
        return await handler(binding, tenant, words[1:])

    async def handle_status(
        self, _b: ChatBinding, tenant: TenantContext, _a: list[str]
    ) -> BotReply:
        terminals = await self._data.connected_terminals(tenant)
        model = await self._data.served_model(tenant)
        latest: dict[str, str] = {}
        for signal in await self._data.signals(tenant, symbol=None, limit=200):
            latest.setdefault(signal.symbol, f"{signal.action} ({signal.confidence:.0%})")
        lines = [
            "<b>Status</b>",
            f"Terminals connected: {'not available' if terminals is None else terminals}",
            f"Served model: {escape_html(model) if model else 'none'}",
        ]
        lines += [f"{escape_html(s)}: {escape_html(v)}" for s, v in sorted(latest.items())]
        if not latest:
            lines.append("No signals yet.")
        return BotReply("\n".join(lines))

    async def handle_positions(
        self, _b: ChatBinding, tenant: TenantContext, _a: list[str]
    ) -> BotReply:
        account = await self._data.account(tenant)
        if not account.positions:
            return BotReply("<b>Positions</b>\nNo open positions.")
        lines = ["<b>Positions</b>"]
        for p in account.positions:
            lines.append(
                f"{escape_html(str(p['symbol']))} {escape_html(str(p['side']))} "
                f"{float(p['lots']):g} lots @ {float(p['entry_price']):g}"
            )
        lines.append(f"Equity {account.equity:,.2f} {escape_html(account.currency)}")
        return BotReply("\n".join(lines))

    async def handle_pnl(self, _b: ChatBinding, tenant: TenantContext, args: list[str]) -> BotReply:
        period = args[0].lower() if args else "day"
        if period not in ("day", "week"):
            return BotReply(f"Expected /pnl day or /pnl week; received {escape_html(period)}.")
        account = await self._data.account(tenant)
        now_ms = self._clock.now_ms()
        if period == "day":
            start_equity = account.day_start_equity
            since_ms = now_ms - 86_400_000
        else:
            since_ms = now_ms - 7 * 86_400_000
            in_week = [e for ts, e in account.equity_curve if ts >= since_ms]
            start_equity = in_week[0] if in_week else account.starting_balance
        closed = [t for t in account.trades if int(t["exit_ts"]) >= since_ms]
        realized = sum(float(t["pnl"]) for t in closed)
        change = _money(account.equity - start_equity)
        text = (
            f"<b>P&amp;L ({period})</b>\n"
            f"Equity change: {change} {escape_html(account.currency)}\n"
            f"Closed trades: {len(closed)}, realized {_money(realized)}"
        )
        if account.halted:
            text += f"\nTrading halted: {escape_html(account.halted)}"
        return BotReply(text, buttons=[[("Day", "/pnl day"), ("Week", "/pnl week")]])

    async def handle_signals(
        self, _b: ChatBinding, tenant: TenantContext, args: list[str]
    ) -> BotReply:
        symbol = args[0].upper() if args else None
        if symbol is not None and not _SYMBOL.match(symbol):
            return BotReply(f"Expected a symbol such as EURUSD; received {escape_html(args[0])}.")
        signals = await self._data.signals(tenant, symbol=symbol, limit=10)
        title = f"<b>Signals{' ' + escape_html(symbol) if symbol else ''}</b>"
        if not signals:
            return BotReply(f"{title}\nNo signals yet.")
        lines = [title]
        for s in signals:
            lines.append(
                f"{escape_html(s.symbol)} {escape_html(s.action)} {s.size:g} lots "
                f"({s.confidence:.0%}, {escape_html(s.model)})"
            )
        return BotReply("\n".join(lines))

    async def handle_mute(
        self, binding: ChatBinding, _t: TenantContext, args: list[str]
    ) -> BotReply:
        duration = parse_duration(args[0]) if args else timedelta(hours=1)
        if duration is None or duration > MAX_MUTE:
            received = escape_html(args[0]) if args else ""
            return BotReply(
                f"Expected a duration such as 30m, 1h or 2d (at most 7d); received {received}."
            )
        until = self._clock.now() + duration
        await self._links.mute(binding.chat_id, until)
        return BotReply(
            f"Muted until {until:%Y-%m-%d %H:%M} UTC.", buttons=[[("Unmute", "/unmute")]]
        )

    async def handle_unmute(
        self, binding: ChatBinding, _t: TenantContext, _a: list[str]
    ) -> BotReply:
        await self._links.mute(binding.chat_id, None)
        return BotReply("Notifications resumed.")


class _NoData:
    """Stands in when the trading service runs elsewhere (read commands answer ``NO_DATA``)."""

    async def signals(
        self, tenant: TenantContext, *, symbol: str | None, limit: int
    ) -> Sequence[SignalIssued]:
        return ()

    async def account(self, tenant: TenantContext) -> AccountView:
        raise LookupError("no trading data in this process")

    async def served_model(self, tenant: TenantContext) -> str | None:
        return None

    async def connected_terminals(self, tenant: TenantContext) -> int | None:
        return None


_NO_DATA = _NoData()


def _may_read(role: str) -> bool:
    try:
        return Permission.SIGNALS_READ in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
