"""``ValidationConfig``: the thresholds of ``bridge.validation.TickValidator``, one per feed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from chainflow.bridge.price_bands import KNOWN_PRICE_BANDS, PriceBand
from chainflow.core.errors import ConfigurationError
from chainflow.core.settings import BridgeSettings

MAD_TO_SIGMA = 1.4826
"""Scale that turns a median absolute deviation into a normal standard deviation."""

_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class ValidationConfig:
    """Thresholds of ``TickValidator``; one instance per tenant feed.

    Attributes:
        future_tolerance_ms: How far ahead of the server clock a ts may be (client clock skew).
        retention_ms: How far behind the server clock a ts may be. Pass the tenant tier's
            retention; the default is 30 days.
        min_price: The lowest bid or ask any symbol may quote, whatever its history; a lower
            one is ``price_out_of_range`` (5e-324 and 1e-300 are no prices).
        max_price: The highest bid or ask any symbol may quote (1e300 is no price).
        max_relative_spread: A spread above this fraction of the mid is ``spread_outlier``
            from the first tick on (bid 1e-9 with ask 1e9 is no quote).
        warmup_ticks: Entries a symbol's rolling window must hold before the spread check
            (spread window) or the robust spike check (return window) applies.
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
        cold_move_limit: Where the robust check cannot judge (fewer than ``warmup_ticks``
            returns, or the first tick after a ``spike_gap_ms`` gap), a relative mid move
            beyond this is a spike.
        spike_confirmation_ticks: A jump to a new level is accepted only once the level has
            held at least this many consecutive spikes (``price_sanity.LevelCandidate``) ...
        spike_confirmation_ms: ... spanning at least this much tick time; the spikes before
            are quarantined. The jump is not recorded as a return.
        out_of_order_spike_window_ms: A tick older than the latest accepted one is checked for
            a spike only within this distance of it (older ones skip the check).
        spike_gap_ms: A tick more than this after the symbol's previous accepted tick is
            judged by ``cold_move_limit`` only (a feed gap or market reopen makes the return
            incomparable), and its return is not recorded.
        new_symbol_ticks: A symbol without a price band has its first ticks held until this
            many in a row agree; 1 accepts a new symbol's first tick as it is.
        new_symbol_agreement: The held ticks agree when their highest mid is within this
            fraction of their lowest.
        price_bands: Plausible mid-price bands by symbol (``bridge.price_bands``).
        quarantine_ticks_per_day: Ticks one feed may quarantine per UTC day; beyond it an
            implausible tick is refused without being kept.
        duplicate_memory_ticks: Accepted (ts, bid, ask) keys remembered per symbol, about
            200 bytes each; must exceed the client's resend window.
        max_symbols: Distinct symbols one validator tracks; further ones are ``invalid_symbol``.
    """

    future_tolerance_ms: int = 5_000
    retention_ms: int = 30 * _DAY_MS
    min_price: float = 1e-6
    max_price: float = 1e7
    max_relative_spread: float = 0.10
    warmup_ticks: int = 20
    spread_window_ticks: int = 50
    spread_outlier_factor: float = 20.0
    spread_outlier_floor: float = 5e-4
    spike_window_ticks: int = 50
    spike_threshold: float = 12.0
    spike_mad_floor: float = 5e-5
    cold_move_limit: float = 0.10
    spike_confirmation_ticks: int = 5
    spike_confirmation_ms: int = 10_000
    spike_gap_ms: int = 300_000
    out_of_order_spike_window_ms: int = 5_000
    new_symbol_ticks: int = 5
    new_symbol_agreement: float = 0.02
    price_bands: Mapping[str, PriceBand] = field(default_factory=lambda: KNOWN_PRICE_BANDS)
    quarantine_ticks_per_day: int = 100_000
    duplicate_memory_ticks: int = 1024
    max_symbols: int = 512

    @classmethod
    def from_settings(cls, settings: BridgeSettings, retention_ms: int) -> ValidationConfig:
        """Return the config of a feed with ``retention_ms`` under the bridge ``settings``."""
        return cls(
            retention_ms=retention_ms,
            min_price=settings.min_price,
            max_price=settings.max_price,
            max_relative_spread=settings.max_relative_spread,
            spike_confirmation_ms=settings.spike_confirmation_ms,
            spike_confirmation_ticks=settings.spike_confirmation_ticks,
            new_symbol_ticks=settings.new_symbol_ticks,
            new_symbol_agreement=settings.new_symbol_agreement,
            quarantine_ticks_per_day=settings.quarantine_ticks_per_day,
        )

    def __post_init__(self) -> None:
        minimums: dict[str, float] = {
            "future_tolerance_ms": 0,
            "retention_ms": 1,
            "min_price": 5e-324,
            "max_price": self.min_price * 2,
            "max_relative_spread": 5e-324,
            "warmup_ticks": 1,
            "spread_window_ticks": self.warmup_ticks,
            "spread_outlier_factor": 1.0,
            "spread_outlier_floor": 0.0,
            "spike_window_ticks": self.warmup_ticks,
            "spike_threshold": 0.0,
            "spike_mad_floor": 0.0,
            "cold_move_limit": 5e-324,
            "spike_confirmation_ticks": 2,
            "spike_confirmation_ms": 0,
            "spike_gap_ms": 0,
            "out_of_order_spike_window_ms": 0,
            "new_symbol_ticks": 1,
            "new_symbol_agreement": 0.0,
            "quarantine_ticks_per_day": 0,
            "duplicate_memory_ticks": 1,
            "max_symbols": 1,
        }
        for name, minimum in minimums.items():
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= minimum):
                raise ConfigurationError(
                    f"expected ValidationConfig.{name} to be at least {minimum}; received {value!r}"
                )
