"""Plausible price bands of the symbols the platform knows, for ``TickValidator``.

A band is deliberately wide: several times the range the instrument traded in over
decades, so that no genuine quote falls outside it, while a quote off by a factor of ten
(a misplaced decimal point, a price in points, another instrument's feed) does. A symbol
with a band is checked against it from its first tick on; a symbol without one is held
back until its first ticks agree with each other (``bridge.price_sanity``).

Broker forms are looked up by their base name: ``EURUSD.a``, ``EURUSD-ECN``, ``XAUUSD#``
and ``EURUSDm`` use EURUSD's band.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

_SUFFIX_SEPARATOR = re.compile(r"[._#\-]")
_PAIR_LENGTH = 6
_MAX_LETTER_SUFFIX = 5


@dataclass(frozen=True, slots=True)
class PriceBand:
    """The closed range ``[low, high]`` a symbol's mid price plausibly lies in."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and 0 < self.low):
            raise ValueError(
                f"expected a finite band with low > 0; received [{self.low!r}, {self.high!r}]"
            )
        if self.low >= self.high:
            raise ValueError(f"expected band low < high; received [{self.low!r}, {self.high!r}]")

    def contains(self, price: float) -> bool:
        """Return whether ``price`` lies in the band (ends included)."""
        return self.low <= price <= self.high


def _bands(entries: Mapping[str, tuple[float, float]]) -> Mapping[str, PriceBand]:
    return MappingProxyType({symbol: PriceBand(*band) for symbol, band in entries.items()})


KNOWN_PRICE_BANDS: Mapping[str, PriceBand] = _bands(
    {
        # FX majors
        "EURUSD": (0.5, 2.5),
        "GBPUSD": (0.5, 3.0),
        "AUDUSD": (0.3, 1.5),
        "NZDUSD": (0.3, 1.5),
        "USDCAD": (0.8, 2.0),
        "USDCHF": (0.5, 2.0),
        "USDJPY": (50.0, 300.0),
        # FX crosses
        "EURGBP": (0.5, 1.5),
        "EURCHF": (0.5, 2.0),
        "EURJPY": (60.0, 300.0),
        "EURAUD": (1.0, 2.5),
        "EURCAD": (1.0, 2.5),
        "EURNZD": (1.0, 3.0),
        "GBPJPY": (80.0, 400.0),
        "GBPCHF": (0.8, 3.0),
        "GBPAUD": (1.2, 3.0),
        "GBPCAD": (1.2, 3.0),
        "AUDJPY": (40.0, 200.0),
        "AUDCAD": (0.6, 1.5),
        "AUDCHF": (0.4, 1.5),
        "AUDNZD": (0.8, 1.5),
        "NZDJPY": (30.0, 150.0),
        "NZDCAD": (0.5, 1.3),
        "NZDCHF": (0.3, 1.2),
        "CADJPY": (40.0, 200.0),
        "CADCHF": (0.4, 1.2),
        "CHFJPY": (50.0, 300.0),
        # FX against the dollar, outside the majors
        "USDSEK": (5.0, 20.0),
        "USDNOK": (5.0, 20.0),
        "USDSGD": (1.0, 2.0),
        "USDHKD": (7.0, 8.5),
        "USDCNH": (5.0, 10.0),
        "USDMXN": (8.0, 40.0),
        "USDZAR": (5.0, 40.0),
        # Metals
        "XAUUSD": (500.0, 20_000.0),
        "XAGUSD": (5.0, 500.0),
        "XPTUSD": (200.0, 5_000.0),
        "XPDUSD": (200.0, 10_000.0),
        # Energy
        "XTIUSD": (1.0, 500.0),
        "USOIL": (1.0, 500.0),
        "WTI": (1.0, 500.0),
        "XBRUSD": (1.0, 500.0),
        "UKOIL": (1.0, 500.0),
        "BRENT": (1.0, 500.0),
        "XNGUSD": (0.5, 50.0),
        # Indices (cash CFDs)
        "US30": (5_000.0, 200_000.0),
        "US500": (1_000.0, 50_000.0),
        "SPX500": (1_000.0, 50_000.0),
        "US100": (2_000.0, 150_000.0),
        "NAS100": (2_000.0, 150_000.0),
        "USTEC": (2_000.0, 150_000.0),
        "GER40": (3_000.0, 100_000.0),
        "DE40": (3_000.0, 100_000.0),
        "UK100": (2_000.0, 30_000.0),
        "FRA40": (2_000.0, 30_000.0),
        "JP225": (5_000.0, 200_000.0),
        "AUS200": (2_000.0, 30_000.0),
        "HK50": (5_000.0, 100_000.0),
        # Crypto
        "BTCUSD": (1_000.0, 10_000_000.0),
        "ETHUSD": (10.0, 1_000_000.0),
        "LTCUSD": (1.0, 100_000.0),
        "XRPUSD": (0.01, 100.0),
        "SOLUSD": (0.1, 100_000.0),
    }
)
"""Bands of the symbols the platform knows, keyed by canonical symbol."""


def price_band_of(
    symbol: str, bands: Mapping[str, PriceBand] = KNOWN_PRICE_BANDS
) -> PriceBand | None:
    """Return the band of ``symbol`` or of its base name (``EURUSD.a`` → EURUSD), else None.

    The base name is the part before the first ``.``, ``_``, ``#`` or ``-``; a pair written
    with a short letter suffix (``EURUSDm``, ``EURUSDPRO``) uses its six-letter pair's band.
    """
    band = bands.get(symbol)
    if band is not None:
        return band
    upper = symbol.upper()
    head = _SUFFIX_SEPARATOR.split(upper, maxsplit=1)[0]
    band = bands.get(head)
    if band is not None:
        return band
    suffix = head[_PAIR_LENGTH:]
    if 0 < len(suffix) <= _MAX_LETTER_SUFFIX and suffix.isalpha():
        return bands.get(head[:_PAIR_LENGTH])
    return None
