"""Tick validation for MT5 ingestion: a pure, per-symbol, hot-path module (issue 5, point 2).

``bridge.tick_message.parse_tick_message`` checks a wire item's schema first; then
``TickValidator.validate`` checks values and history. Its checks run in this order, the
first failure wins (stateless before stateful, cheap before costly):

1. ``invalid_symbol``: the symbol does not normalize (``SymbolNormalizer``), or the
   validator already tracks ``max_symbols`` other symbols;
2. ``non_finite_price``: bid or ask is NaN or infinite;
3. ``non_positive_price``: bid or ask is zero or negative;
4. ``crossed_quote``: ask < bid (ask == bid is allowed);
5. ``invalid_volume``: volume is negative, NaN or infinite;
6. ``future_timestamp``: ts > now + ``future_tolerance_ms``;
7. ``stale_timestamp``: ts < now - ``retention_ms``;
8. ``duplicate``: the same (symbol, ts, bid, ask) is among the symbol's last
   ``duplicate_memory_ticks`` accepted ticks;
9. ``spread_outlier``: once warm, ask - bid > max(``spread_outlier_factor`` x rolling median
   spread, ``spread_outlier_floor`` x mid);
10. ``price_spike``: once warm, the robust z of the mid-price return exceeds
    ``spike_threshold`` (the estimator is described on ``ValidationConfig``).

A tick that passes is ``Accepted``; one older than the symbol's last accepted ts is flagged
``out_of_order``: store it, but do not feed it to streaming features.

Only accepted, in-order ticks update a symbol's rolling windows, so a rejected spike never
poisons the medians; out-of-order ticks enter only the duplicate memory. The windows are
kept sorted incrementally (``bisect``): a median is O(1), an update a short ``memmove``, and
the MAD is computed only for a move too large for the MAD floor alone to clear.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chainflow.bridge.rolling import median_of_sorted, push_sorted
from chainflow.bridge.symbols import SYMBOL_PATTERN, SymbolNormalizer
from chainflow.bridge.tick_message import RejectCode, Rejection, parse_tick_message
from chainflow.core.clock import Clock
from chainflow.core.errors import ConfigurationError
from chainflow.core.market import Tick

MAD_TO_SIGMA = 1.4826
"""Scale that turns a median absolute deviation into a normal standard deviation."""

_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Accepted:
    """An accepted tick with its normalized symbol; ``out_of_order`` ticks skip features."""

    tick: Tick
    out_of_order: bool = False


@dataclass(frozen=True, slots=True)
class ValidationConfig:
    """Thresholds of ``TickValidator``; one instance per tenant feed.

    Attributes:
        future_tolerance_ms: How far ahead of the server clock a ts may be (client clock skew).
        retention_ms: How far behind the server clock a ts may be. Pass the tenant tier's
            retention; the default is 30 days.
        warmup_ticks: Entries a symbol's rolling window must hold before the spread check
            (spread window) or the spike check (return window) applies.
        spread_window_ticks: Accepted spreads kept per symbol for the rolling median spread.
        spread_outlier_factor: A spread above this multiple of the rolling median is an outlier.
        spread_outlier_floor: A spread at or below this fraction of the mid price is never an
            outlier, whatever the median (a feed quoting zero spreads would otherwise reject
            every non-zero one). A fraction of mid, so one config serves EURUSD and BTCUSD.
        spike_window_ticks: Relative mid-price returns (``mid / previous_mid - 1``) of
            accepted in-order ticks kept per symbol.
        spike_threshold: A tick is a spike when its return's robust z,
            ``|r - median(R)| / (MAD_TO_SIGMA * max(MAD(R), spike_mad_floor))`` over the window
            ``R``, exceeds this. Centring on the median return lets a steady trend through.
        spike_mad_floor: Lower bound on MAD(R), as a relative return, so a flat market (MAD 0)
            does not reject the next small move. The default, 5e-5, lets any move within
            12 × 1.4826 × 5e-5 ≈ 0.09 % (≈ 10 pips on EURUSD) through without further work.
        spike_confirmation_ticks: A genuine jump to a new level is accepted on the N-th
            consecutive spike whose mid agrees with the previous spike's (within the same
            limit); the N - 1 before it are rejected. The jump is not recorded as a return.
        out_of_order_spike_window_ms: A tick older than the latest accepted one is checked for
            a spike only within this distance of it (older ones skip the check).
        spike_gap_ms: A tick more than this after the symbol's previous accepted tick skips
            the spike check (a feed gap or market reopen makes the return incomparable), and
            its return is not recorded.
        duplicate_memory_ticks: Accepted (ts, bid, ask) keys remembered per symbol, about
            200 bytes each; must exceed the client's resend window.
        max_symbols: Distinct symbols one validator tracks; further ones are ``invalid_symbol``.
    """

    future_tolerance_ms: int = 5_000
    retention_ms: int = 30 * _DAY_MS
    warmup_ticks: int = 20
    spread_window_ticks: int = 50
    spread_outlier_factor: float = 20.0
    spread_outlier_floor: float = 5e-4
    spike_window_ticks: int = 50
    spike_threshold: float = 12.0
    spike_mad_floor: float = 5e-5
    spike_confirmation_ticks: int = 3
    spike_gap_ms: int = 300_000
    out_of_order_spike_window_ms: int = 5_000
    duplicate_memory_ticks: int = 1024
    max_symbols: int = 512

    def __post_init__(self) -> None:
        minimums: dict[str, float] = {
            "future_tolerance_ms": 0,
            "retention_ms": 1,
            "warmup_ticks": 1,
            "spread_window_ticks": self.warmup_ticks,
            "spread_outlier_factor": 1.0,
            "spread_outlier_floor": 0.0,
            "spike_window_ticks": self.warmup_ticks,
            "spike_threshold": 0.0,
            "spike_mad_floor": 0.0,
            "spike_confirmation_ticks": 2,
            "spike_gap_ms": 0,
            "out_of_order_spike_window_ms": 0,
            "duplicate_memory_ticks": 1,
            "max_symbols": 1,
        }
        for name, minimum in minimums.items():
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= minimum):
                raise ConfigurationError(
                    f"expected ValidationConfig.{name} to be at least {minimum}; received {value!r}"
                )


@dataclass(slots=True)
class ValidationStats:
    """Counters since the validator was built: accepted, out-of-order, rejected per code."""

    accepted: int = 0
    out_of_order: int = 0
    rejected: dict[RejectCode, int] = field(default_factory=lambda: dict.fromkeys(RejectCode, 0))

    @property
    def rejected_total(self) -> int:
        """Return the number of rejections of every code."""
        return sum(self.rejected.values())


@dataclass(frozen=True, slots=True)
class SymbolSnapshot:
    """A copy of one symbol's rolling state (windows in arrival order), for inspection."""

    symbol: str
    last_ts: int | None
    last_mid: float | None
    recent_returns: tuple[float, ...]
    recent_spreads: tuple[float, ...]
    remembered_ticks: int
    spike_candidates: int


class _SymbolState:
    __slots__ = (
        "last_ts",
        "last_mid",
        "returns",
        "sorted_returns",
        "spreads",
        "sorted_spreads",
        "seen_order",
        "seen",
        "candidate_mid",
        "candidate_count",
    )

    def __init__(self) -> None:
        self.last_ts: int | None = None
        self.last_mid: float | None = None
        self.returns: deque[float] = deque()
        self.sorted_returns: list[float] = []
        self.spreads: deque[float] = deque()
        self.sorted_spreads: list[float] = []
        self.seen_order: deque[tuple[int, float, float]] = deque()
        self.seen: set[tuple[int, float, float]] = set()
        self.candidate_mid: float | None = None
        self.candidate_count = 0


class TickValidator:
    """Validate ticks of one tenant feed against ``config``, keeping state per symbol.

    Not thread-safe: use one instance per tenant feed, called from one event loop.
    """

    __slots__ = ("_config", "_clock", "_normalizer", "_states", "_spike_floor_bound", "stats")

    def __init__(
        self, config: ValidationConfig, clock: Clock, normalizer: SymbolNormalizer
    ) -> None:
        self._config = config
        self._clock = clock
        self._normalizer = normalizer
        self._states: dict[str, _SymbolState] = {}
        # A return deviating less than this can never be a spike: MAD is at least the floor.
        self._spike_floor_bound = config.spike_threshold * MAD_TO_SIGMA * config.spike_mad_floor
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
            state = self._states[symbol] = _SymbolState()
        key = (ts, bid, ask)
        if key in state.seen:
            return self._reject(
                RejectCode.DUPLICATE,
                f"expected a tick not seen before; received {symbol} ts {ts} bid {bid!r} "
                f"ask {ask!r} again",
                seq,
            )

        mid = (bid + ask) * 0.5
        spread = ask - bid
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
        # A late tick is compared with the latest mid only when it is close to it in time: a
        # tick resent minutes late legitimately differs from the price of now.
        window_ms = config.out_of_order_spike_window_ms if out_of_order else config.spike_gap_ms
        if last_ts is not None and last_mid is not None and abs(ts - last_ts) <= window_ms:
            change = mid / last_mid - 1.0
            record_return = not out_of_order
            sorted_returns = state.sorted_returns
            if len(sorted_returns) >= config.warmup_ticks:
                median_change = median_of_sorted(sorted_returns)
                deviation = abs(change - median_change)
                if deviation > self._spike_floor_bound:
                    mad = median_of_sorted(sorted(abs(r - median_change) for r in sorted_returns))
                    limit = config.spike_threshold * MAD_TO_SIGMA * max(mad, config.spike_mad_floor)
                    if deviation > limit:
                        if out_of_order or not _is_confirmed_level(state, mid, limit, config):
                            return self._reject(
                                RejectCode.PRICE_SPIKE,
                                f"expected a mid-price move within {median_change:+.4%} +/- "
                                f"{limit:.4%}; received {change:+.4%} (mid {mid:.10g} after "
                                f"{last_mid:.10g})",
                                seq,
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
            state.candidate_mid = None
            state.candidate_count = 0
        if symbol != tick.symbol:
            tick = Tick(symbol, ts, bid, ask, volume)
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
        return SymbolSnapshot(
            symbol=canonical,
            last_ts=state.last_ts,
            last_mid=state.last_mid,
            recent_returns=tuple(state.returns),
            recent_spreads=tuple(state.spreads),
            remembered_ticks=len(state.seen),
            spike_candidates=state.candidate_count,
        )

    def _reject(self, code: RejectCode, message: str, seq: int | None) -> Rejection:
        self.stats.rejected[code] += 1
        return Rejection(code, message, seq)


def _is_confirmed_level(
    state: _SymbolState, mid: float, limit: float, config: ValidationConfig
) -> bool:
    candidate = state.candidate_mid
    if candidate is not None and abs(mid / candidate - 1.0) <= limit:
        state.candidate_count += 1
    else:
        state.candidate_count = 1
    state.candidate_mid = mid
    return state.candidate_count >= config.spike_confirmation_ticks
