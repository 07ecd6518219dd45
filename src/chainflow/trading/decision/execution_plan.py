"""Execution planning: how (and whether now) a buy or sell enters the market.

Pure and clock-free: the caller passes the live quote, ``ts`` (epoch ms, UTC), the rolling
spread median of the symbol (``SpreadTracker``) and the ``TradingSettings``. The steps of
``plan_execution``, in order:

1. ``hold`` places no order: ``order_type`` is ``"none"``. To flatten a position on
   ``hold``, plan the closing side with ``is_exit=True``.
2. An exit (``is_exit=True``) is never avoided and never waits: market, with the slippage
   estimate.
3. An entry inside the rollover window (``[R - m, R + m)`` around ``rollover_hour_utc`` R,
   ``m = avoid_rollover_minutes``) or in a thin-liquidity hour (``thin_hours_utc``,
   half-open ``[a:00, b:00)`` ranges) is avoided; so is one without a valid quote. An
   avoided plan has ``order_type`` ``"none"`` and ``avoid`` set to the reason.
4. No spread median yet (too few ticks): market.
5. A spread above ``max_spread_ratio`` × its median: avoided.
6. A spread above ``limit_spread_ratio`` × its median with ``limit_entry``: a limit
   ``limit_offset_spreads`` spreads inside the touch (a buy at ``ask - k·spread``, a sell at
   ``bid + k·spread``), rounded to the instrument's digits toward the better side (down for
   a buy, up for a sell) and kept within the quote, so a buy limit is never below the bid
   nor a sell limit above the ask. It fills when the far side reaches it (paper
   ``is_fillable``); its expected slippage is 0.
7. Otherwise: market.

Slippage model (market orders, price units, against the trader): the reference is a fill on
a normal spread, ``mid ± median/2``; the live quote costs half its excess over the median,
``max(0, spread - median) / 2``, plus ``slippage_base_points`` points for the move between
the decision and the fill (the next tick). Without a median only the base applies.
``expected_cost`` is that slippage for one lot in the account currency
(× ``contract_size`` × ``quote_to_account``), when the instrument has both.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias

from chainflow.core.errors import InvalidInput
from chainflow.core.settings import TradingSettings

OrderType: TypeAlias = Literal["market", "limit", "none"]

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
# Ratio comparisons forgive float noise such as 0.00015 / 0.0001 = 1.4999999999999998.
COMPARISON_EPSILON = 1e-9
# Rounding to the price grid forgives float noise such as 1.10025 - 0.00025 = 1.0999999999.
GRID_EPSILON = 1e-6


class PricedInstrument(Protocol):
    @property
    def price_digits(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    """How to execute one action now; ``avoid`` set means do not enter now (and why)."""

    order_type: OrderType
    limit_price: float | None
    expected_slippage: float
    expected_cost: float | None
    avoid: str | None
    reasons: tuple[str, ...]

    @property
    def places_order(self) -> bool:
        """Return whether the caller should send an order now."""
        return self.order_type != "none" and self.avoid is None


NO_ORDER = ExecutionPlan("none", None, 0.0, None, None, ())


class SpreadTracker:
    """Exact rolling median and mean of one symbol's spread over its last ``window`` ticks.

    ``update`` is O(log N) search plus an O(N) memmove on a sorted list (fast for N in the
    hundreds). Ticks with a non-finite or crossed quote are ignored. ``median``/``mean``
    are None until ``min_count`` spreads are in the window.
    """

    def __init__(self, window: int = 500, min_count: int = 20) -> None:
        if window < 1 or not 1 <= min_count <= window:
            raise InvalidInput(
                f"expected window >= 1 and 1 <= min_count <= window; "
                f"received window={window}, min_count={min_count}"
            )
        self.window = window
        self.min_count = min_count
        self._spreads: deque[float] = deque()
        self._sorted: list[float] = []
        self._sum = 0.0
        self._evictions = 0

    @classmethod
    def from_settings(cls, settings: TradingSettings) -> SpreadTracker:
        """Return a tracker over ``spread_window`` ticks trusted after ``spread_min_ticks``."""
        return cls(settings.spread_window, settings.spread_min_ticks)

    def update(self, bid: float, ask: float) -> None:
        """Add the spread of one quote (ignored when crossed or not finite)."""
        spread = ask - bid
        if not (math.isfinite(spread) and spread >= 0):
            return
        if len(self._spreads) == self.window:
            oldest = self._spreads.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, oldest)]
            self._sum -= oldest
            self._evictions += 1
            if self._evictions >= self.window:  # bound the running sum's float drift
                self._evictions = 0
                self._sum = math.fsum(self._spreads)
        self._spreads.append(spread)
        bisect.insort(self._sorted, spread)
        self._sum += spread

    @property
    def count(self) -> int:
        return len(self._spreads)

    @property
    def is_ready(self) -> bool:
        return len(self._spreads) >= self.min_count

    @property
    def median(self) -> float | None:
        if not self.is_ready:
            return None
        values, middle = self._sorted, len(self._sorted) // 2
        if len(values) % 2:
            return values[middle]
        return (values[middle - 1] + values[middle]) / 2.0

    @property
    def mean(self) -> float | None:
        return self._sum / len(self._spreads) if self.is_ready else None

    def reset(self) -> None:
        self._spreads.clear()
        self._sorted.clear()
        self._sum = 0.0
        self._evictions = 0


def is_in_rollover_window(ts: int, rollover_hour_utc: int, minutes: int) -> bool:
    """Return whether ``ts`` is in ``[rollover - minutes, rollover + minutes)`` of its day."""
    if minutes <= 0:
        return False
    offset = (ts - rollover_hour_utc * HOUR_MS) % DAY_MS
    half = minutes * MINUTE_MS
    return offset < half or offset >= DAY_MS - half


def thin_hour_range_at(ts: int, ranges: tuple[tuple[int, int], ...]) -> tuple[int, int] | None:
    """Return the half-open UTC hour range (wrapping past midnight) containing ``ts``."""
    time_of_day = ts % DAY_MS
    for start, end in ranges:
        if start < end:
            inside = start * HOUR_MS <= time_of_day < end * HOUR_MS
        else:
            inside = time_of_day >= start * HOUR_MS or time_of_day < end * HOUR_MS
        if inside:
            return start, end
    return None


def plan_execution(
    action: str,
    *,
    bid: float,
    ask: float,
    ts: int,
    spread_median: float | None,
    instrument: PricedInstrument,
    settings: TradingSettings,
    is_exit: bool = False,
) -> ExecutionPlan:
    """Return how to execute ``action`` on this quote (see the module doc for the steps)."""
    if action == "hold":
        return NO_ORDER
    if action not in ("buy", "sell"):
        raise InvalidInput(f"expected action buy, sell or hold; received {action!r}")
    digits = instrument.price_digits
    point = 10.0**-digits
    if not (math.isfinite(bid) and math.isfinite(ask) and 0 < bid <= ask):
        reason = f"no valid quote (bid {bid}, ask {ask})"
        if is_exit:
            return _market(instrument, settings, None, None, (f"{reason}: exit at market",))
        return _avoided(f"{reason}: no entry")
    spread = ask - bid
    median = spread_median if spread_median is not None and spread_median > 0 else None
    if is_exit:
        return _market(instrument, settings, spread, median, ("exit at market: never delayed",))
    clock = _clock_text(ts)
    if is_in_rollover_window(ts, settings.rollover_hour_utc, settings.avoid_rollover_minutes):
        return _avoided(
            f"{clock} UTC is within {settings.avoid_rollover_minutes} min of the "
            f"{settings.rollover_hour_utc:02d}:00 UTC rollover: no entry"
        )
    thin = thin_hour_range_at(ts, settings.thin_hour_ranges)
    if thin is not None:
        return _avoided(
            f"{clock} UTC is in the thin-liquidity hours {thin[0]:02d}:00-{thin[1]:02d}:00 UTC: "
            "no entry"
        )
    spread_text = f"spread {spread / point:.1f} points"
    if median is None:
        reason = f"{spread_text}, no median yet: market {action}"
        return _market(instrument, settings, spread, None, (reason,))
    ratio = spread / median
    spread_text += f", {ratio:.1f}× its median of {median / point:.1f}"
    if ratio > settings.max_spread_ratio + COMPARISON_EPSILON:
        return _avoided(f"{spread_text}: no entry")
    if settings.limit_entry and ratio > settings.limit_spread_ratio + COMPARISON_EPSILON:
        offset = settings.limit_offset_spreads * spread
        if action == "buy":
            price = max(_floor_to_grid(ask - offset, digits), bid)
            inside = ask - price
        else:
            price = min(_ceil_to_grid(bid + offset, digits), ask)
            inside = price - bid
        reason = (
            f"{spread_text}: {action} limit {price:.{digits}f}, "
            f"{inside / point:.1f} points inside the {'ask' if action == 'buy' else 'bid'}"
        )
        cost = _cost_per_lot(instrument, 0.0)
        return ExecutionPlan("limit", price, 0.0, cost, None, (reason,))
    return _market(instrument, settings, spread, median, (f"{spread_text}: market {action}",))


def _market(
    instrument: PricedInstrument,
    settings: TradingSettings,
    spread: float | None,
    median: float | None,
    reasons: tuple[str, ...],
) -> ExecutionPlan:
    point = 10.0**-instrument.price_digits
    base = settings.slippage_base_points * point
    excess = max(0.0, spread - median) if spread is not None and median is not None else 0.0
    slippage = round(base + excess / 2.0, instrument.price_digits + 2)
    detail = f"expected slippage {slippage / point:.1f} points"
    if excess > 0:
        detail += (
            f" ({settings.slippage_base_points:.1f} base + half the "
            f"{excess / point:.1f}-point excess over the median)"
        )
    plan_reasons = (*reasons, detail)
    return ExecutionPlan(
        "market", None, slippage, _cost_per_lot(instrument, slippage), None, plan_reasons
    )


def _avoided(reason: str) -> ExecutionPlan:
    return ExecutionPlan("none", None, 0.0, None, reason, (reason,))


def _cost_per_lot(instrument: PricedInstrument, slippage: float) -> float | None:
    contract_size = getattr(instrument, "contract_size", None)
    quote_to_account = getattr(instrument, "quote_to_account", None)
    if contract_size is None or quote_to_account is None:
        return None
    cost: float = round(slippage * contract_size * quote_to_account, 2)
    return cost + 0.0


def _floor_to_grid(price: float, digits: int) -> float:
    scale: int = 10**digits
    return round(math.floor(price * scale + GRID_EPSILON) / scale, digits)


def _ceil_to_grid(price: float, digits: int) -> float:
    scale: int = 10**digits
    return round(math.ceil(price * scale - GRID_EPSILON) / scale, digits)


def _clock_text(ts: int) -> str:
    minutes_of_day = ts % DAY_MS // MINUTE_MS
    return f"{minutes_of_day // 60:02d}:{minutes_of_day % 60:02d}"
