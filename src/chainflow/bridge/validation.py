"""Tick validation for MT5 ingestion: a pure, per-symbol, hot-path module (issues 5 and 14).

``bridge.tick_message.parse_tick_message`` checks a wire item's schema first; then
``TickValidator.validate`` checks values and history. Its checks run in this order, the
first failure wins (stateless before stateful, cheap before costly):

1. ``invalid_symbol``: the symbol does not normalize (``SymbolNormalizer``), or the
   validator already tracks ``max_symbols`` other symbols;
2. ``non_finite_price``: bid or ask is NaN or infinite;
3. ``non_positive_price``: bid or ask is zero or negative;
4. ``crossed_quote``: ask < bid (ask == bid is allowed);
5. ``price_out_of_range``: bid or ask outside [``min_price``, ``max_price``];
6. ``spread_outlier``: ask - bid > ``max_relative_spread`` x mid, from the first tick on;
7. ``invalid_volume``: volume is negative, NaN or infinite;
8. ``future_timestamp``: ts > now + ``future_tolerance_ms``;
9. ``stale_timestamp``: ts < now - ``retention_ms``;
10. ``duplicate``: the same (symbol, ts, bid, ask) is among the symbol's last
    ``duplicate_memory_ticks`` accepted ticks (or is held as a new symbol's first ticks);
11. ``quarantined`` (``bridge.price_sanity``): ``price_band``, a known symbol's mid is out of
    its band; ``new_symbol``, a symbol without a band is held until its first
    ``new_symbol_ticks`` agree (then accepted together);
12. ``spread_outlier``: once warm, ask - bid > max(``spread_outlier_factor`` x rolling median
    spread, ``spread_outlier_floor`` x mid);
13. ``quarantined`` (``price_spike``): once warm, the robust z of the mid-price return exceeds
    ``spike_threshold`` (see ``ValidationConfig``), before that or after a feed gap the move
    exceeds ``cold_move_limit``; a new level passes once held for the confirmation window.

A tick that passes is ``Accepted``; one older than the symbol's last accepted ts is flagged
``out_of_order``: store it, but do not feed it to streaming features. The caller persists the
quarantine's changes (``take_quarantine_changes``).

Only accepted, in-order ticks update a symbol's rolling windows, so a rejected spike never
poisons the medians; out-of-order ticks enter only the duplicate memory. The windows are
kept sorted incrementally (``bisect``): a median is O(1), an update a short ``memmove``, and
the MAD is computed only for a move too large for the MAD floor alone to clear.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chainflow.bridge.price_sanity import (
    HoldReason,
    NewSymbolHold,
    QuarantineChanges,
    QuarantineLedger,
)
from chainflow.bridge.rolling import median_of_sorted, push_sorted
from chainflow.bridge.symbol_state import SymbolSnapshot, SymbolState
from chainflow.bridge.symbols import SYMBOL_PATTERN, SymbolNormalizer
from chainflow.bridge.tick_message import RejectCode, Rejection, parse_tick_message
from chainflow.bridge.validation_config import MAD_TO_SIGMA, ValidationConfig
from chainflow.core.clock import Clock
from chainflow.core.market import Tick

__all__ = [
    "MAD_TO_SIGMA",
    "Accepted",
    "SymbolSnapshot",
    "TickValidator",
    "ValidationConfig",
    "ValidationStats",
]


@dataclass(frozen=True, slots=True)
class Accepted:
    """An accepted tick with its normalized symbol; ``out_of_order`` ticks skip features."""

    tick: Tick
    out_of_order: bool = False


@dataclass(slots=True)
class ValidationStats:
    """Counters since the validator was built: accepted, out-of-order, rejected per code.

    ``released`` counts the held ticks of new symbols accepted later (also in ``accepted``).
    """

    accepted: int = 0
    out_of_order: int = 0
    released: int = 0
    rejected: dict[RejectCode, int] = field(default_factory=lambda: dict.fromkeys(RejectCode, 0))

    @property
    def rejected_total(self) -> int:
        """Return the number of rejections of every code."""
        return sum(self.rejected.values())


class TickValidator:
    """Validate ticks of one tenant feed against ``config``, keeping state per symbol.

    Not thread-safe: use one instance per tenant feed, called from one event loop.
    """

    __slots__ = (
        "_config",
        "_clock",
        "_normalizer",
        "_states",
        "_spike_floor_bound",
        "_quarantine",
        "stats",
    )

    def __init__(
        self, config: ValidationConfig, clock: Clock, normalizer: SymbolNormalizer
    ) -> None:
        self._config = config
        self._clock = clock
        self._normalizer = normalizer
        self._states: dict[str, SymbolState] = {}
        # A return deviating less than this can never be a spike: MAD is at least the floor.
        self._spike_floor_bound = config.spike_threshold * MAD_TO_SIGMA * config.spike_mad_floor
        self._quarantine = QuarantineLedger(config.quarantine_ticks_per_day)
        self.stats = ValidationStats()

    @property
    def config(self) -> ValidationConfig:
        """Return the thresholds this validator applies."""
        return self._config

    def use_normalizer(self, normalizer: SymbolNormalizer) -> None:
        """Apply a new alias table to the ticks that follow (state per symbol is kept)."""
        self._normalizer = normalizer

    def normalize_symbol(self, symbol: str) -> str:
        """Return the canonical name of ``symbol`` (itself, upper-cased, when unknown)."""
        return self._normalizer.normalize(symbol) or symbol.upper()

    def take_quarantine_changes(self) -> QuarantineChanges:
        """Return the ticks held and released since the last call, and forget them."""
        return self._quarantine.take()

    def validate_message(self, raw: Mapping[str, Any]) -> Accepted | Rejection:
        """Parse one wire item and validate it, counting a schema rejection too."""
        parsed = parse_tick_message(raw)
        if isinstance(parsed, Rejection):
            self.stats.rejected[parsed.code] += 1
            return parsed
        return self.validate(parsed.tick, parsed.seq)

    def validate(self, tick: Tick, seq: int | None = None) -> Accepted | Rejection:
        """Return the tick ``Accepted`` with its symbol normalized, or a ``Rejection``."""
        config = self._config
        symbol = self._normalizer.normalize(tick.symbol)
        if symbol is None:
            return self._reject(
                RejectCode.INVALID_SYMBOL,
                f"expected a symbol matching {SYMBOL_PATTERN.pattern} after normalization; "
                f"received {tick.symbol[:40]!r}",
                seq,
            )
        bid = tick.bid
        ask = tick.ask
        if not (math.isfinite(bid) and math.isfinite(ask)):
            return self._reject(
                RejectCode.NON_FINITE_PRICE,
                f"expected finite prices; received bid {bid!r}, ask {ask!r}",
                seq,
            )
        if bid <= 0.0 or ask <= 0.0:
            return self._reject(
                RejectCode.NON_POSITIVE_PRICE,
                f"expected positive prices; received bid {bid!r}, ask {ask!r}",
                seq,
            )
        if ask < bid:
            return self._reject(
                RejectCode.CROSSED_QUOTE,
                f"expected ask >= bid; received bid {bid!r}, ask {ask!r}",
                seq,
            )
        if bid < config.min_price or ask > config.max_price:
            return self._reject(
                RejectCode.PRICE_OUT_OF_RANGE,
                f"expected prices within [{config.min_price:g}, {config.max_price:g}]; "
                f"received bid {bid!r}, ask {ask!r}",
                seq,
            )
        mid = (bid + ask) * 0.5
        spread = ask - bid
        if spread > config.max_relative_spread * mid:
            return self._reject(
                RejectCode.SPREAD_OUTLIER,
                f"expected a spread of at most {config.max_relative_spread:.2%} of the mid; "
                f"received {spread / mid:.2%} (bid {bid!r}, ask {ask!r})",
                seq,
            )
        volume = tick.volume
        if not (volume >= 0.0 and math.isfinite(volume)):
            return self._reject(
                RejectCode.INVALID_VOLUME,
                f"expected a finite volume >= 0; received {volume!r}",
                seq,
            )
        ts = tick.ts
        now_ms = self._clock.now_ms()
        if ts > now_ms + config.future_tolerance_ms:
            return self._reject(
                RejectCode.FUTURE_TIMESTAMP,
                f"expected ts at most {config.future_tolerance_ms} ms after server time "
                f"{now_ms}; received {ts} ({ts - now_ms} ms ahead)",
                seq,
            )
        if ts < now_ms - config.retention_ms:
            return self._reject(
                RejectCode.STALE_TIMESTAMP,
                f"expected ts within the {config.retention_ms} ms retention before server "
                f"time {now_ms}; received {ts} ({now_ms - ts} ms old)",
                seq,
            )

        state = self._states.get(symbol)
        if state is None:
            if len(self._states) >= config.max_symbols:
                return self._reject(
                    RejectCode.INVALID_SYMBOL,
                    f"expected at most {config.max_symbols} distinct symbols per feed; "
                    f"received a new one, {symbol!r}",
                    seq,
                )
            state = self._states[symbol] = SymbolState.for_symbol(symbol, config)
        key = (ts, bid, ask)
        if key in state.seen:
            return self._reject(
                RejectCode.DUPLICATE,
                f"expected a tick not seen before; received {symbol} ts {ts} bid {bid!r} "
                f"ask {ask!r} again",
                seq,
            )
        if symbol != tick.symbol:
            tick = Tick(symbol, ts, bid, ask, volume)
        if not (state.band_low <= mid <= state.band_high):
            return self._hold(
                HoldReason.PRICE_BAND,
                f"expected a {symbol} mid within its band [{state.band_low:g}, "
                f"{state.band_high:g}]; received {mid:.10g}",
                tick,
                seq,
                now_ms,
            )
        if state.new_hold is not None:
            return self._hold_new_symbol(state, state.new_hold, tick, seq, now_ms)

        if len(state.sorted_spreads) >= config.warmup_ticks:
            median_spread = median_of_sorted(state.sorted_spreads)
            limit = max(
                config.spread_outlier_factor * median_spread, config.spread_outlier_floor * mid
            )
            if spread > limit:
                return self._reject(
                    RejectCode.SPREAD_OUTLIER,
                    f"expected a spread of at most {limit:.10g} ({config.spread_outlier_factor:g}"
                    f" x median {median_spread:.10g} or the floor); received {spread:.10g}",
                    seq,
                )

        last_ts = state.last_ts
        last_mid = state.last_mid
        out_of_order = last_ts is not None and ts < last_ts
        record_return = False
        change = 0.0
        if last_ts is not None and last_mid is not None:
            change = mid / last_mid - 1.0
            # A late tick is compared with the latest mid only when it is close to it in
            # time: a tick resent minutes late legitimately differs from the price of now.
            near = abs(ts - last_ts) <= (
                config.out_of_order_spike_window_ms if out_of_order else config.spike_gap_ms
            )
            record_return = near and not out_of_order
            spike_limit = 0.0
            expected = ""
            sorted_returns = state.sorted_returns
            if near and len(sorted_returns) >= config.warmup_ticks:
                median_change = median_of_sorted(sorted_returns)
                deviation = abs(change - median_change)
                if deviation > self._spike_floor_bound:
                    mad = median_of_sorted(sorted(abs(r - median_change) for r in sorted_returns))
                    limit = config.spike_threshold * MAD_TO_SIGMA * max(mad, config.spike_mad_floor)
                    if deviation > limit:
                        spike_limit = limit
                        expected = f"{median_change:+.4%} +/- {limit:.4%}"
            elif (near or not out_of_order) and abs(change) > config.cold_move_limit:
                # Too few returns for the robust check, or the first tick after a gap.
                spike_limit = config.cold_move_limit
                expected = f"+/- {spike_limit:.4%}"
            if spike_limit > 0.0:
                if out_of_order or not state.confirms_level(mid, ts, change, spike_limit, config):
                    return self._hold(
                        HoldReason.PRICE_SPIKE,
                        f"expected a mid-price move within {expected}, or a new level held "
                        f"for {config.spike_confirmation_ms} ms and "
                        f"{config.spike_confirmation_ticks} ticks; received {change:+.4%} "
                        f"(mid {mid:.10g} after {last_mid:.10g})",
                        tick,
                        seq,
                        now_ms,
                    )
                record_return = False

        seen_order = state.seen_order
        seen_order.append(key)
        state.seen.add(key)
        if len(seen_order) > config.duplicate_memory_ticks:
            state.seen.discard(seen_order.popleft())
        stats = self.stats
        stats.accepted += 1
        if out_of_order:
            stats.out_of_order += 1
        else:
            if record_return:
                push_sorted(state.returns, state.sorted_returns, change, config.spike_window_ticks)
            push_sorted(state.spreads, state.sorted_spreads, spread, config.spread_window_ticks)
            state.last_ts = ts
            state.last_mid = mid
            state.candidate = None
        return Accepted(tick, out_of_order)

    def forget(self, ticks: Sequence[Tick]) -> None:
        """Drop accepted ``ticks`` from the duplicate memory (they failed to store).

        A tick the store did not take is not acked; the client resends it, and that resend
        must not be refused as a duplicate of a tick that was never stored.
        """
        for tick in ticks:
            state = self._states.get(tick.symbol)
            if state is not None:
                state.seen.discard((tick.ts, tick.bid, tick.ask))

    def symbol_snapshot(self, symbol: str) -> SymbolSnapshot | None:
        """Return a copy of the rolling state of ``symbol`` (normalized first), if tracked."""
        canonical = self._normalizer.normalize(symbol)
        state = self._states.get(canonical) if canonical is not None else None
        if canonical is None or state is None:
            return None
        return state.snapshot(canonical)

    def _hold_new_symbol(
        self, state: SymbolState, hold: NewSymbolHold, tick: Tick, seq: int | None, now_ms: int
    ) -> Accepted | Rejection:
        if hold.holds(tick.ts, tick.bid, tick.ask):
            return self._reject(
                RejectCode.DUPLICATE,
                f"expected a tick not seen before; received {tick.symbol} ts {tick.ts} "
                f"bid {tick.bid!r} ask {tick.ask!r} again (held as a new symbol's tick)",
                seq,
            )
        message = (
            f"expected {hold.size} ticks of the new symbol {tick.symbol} with mids within "
            f"{hold.agreement:.2%} of each other before any is stored; received "
            f"{len(hold.ticks) + 1} so far (they are stored together once they agree)"
        )
        if not self._quarantine.has_room(now_ms):
            return self._hold(HoldReason.NEW_SYMBOL, message, tick, seq, now_ms)
        window = hold.add(tick)
        if window is None:
            return self._hold(HoldReason.NEW_SYMBOL, message, tick, seq, now_ms)
        state.new_hold = None
        return self._release(state, window, tick)

    def _release(self, state: SymbolState, window: list[Tick], current: Tick) -> Accepted:
        state.admit_window(window, self._config)
        self._quarantine.release([held for held in window if held is not current])
        stats = self.stats
        stats.accepted += len(window)
        stats.released += len(window) - 1
        out_of_order = state.last_ts is not None and current.ts < state.last_ts
        if out_of_order:
            stats.out_of_order += 1
        return Accepted(current, out_of_order)

    def _hold(
        self, reason: HoldReason, message: str, tick: Tick, seq: int | None, now_ms: int
    ) -> Rejection:
        quarantine = self._quarantine
        if not quarantine.has_room(now_ms):
            return self._reject(
                reason.refusal_code,
                f"{message}; not kept: the quarantine is full "
                f"({quarantine.ticks_per_day} ticks a day)",
                seq,
            )
        quarantine.hold(tick, reason, seq)
        return self._reject(
            RejectCode.QUARANTINED, f"{message}; kept in quarantine ({reason.value})", seq
        )

    def _reject(self, code: RejectCode, message: str, seq: int | None) -> Rejection:
        self.stats.rejected[code] += 1
        return Rejection(code, message, seq)
