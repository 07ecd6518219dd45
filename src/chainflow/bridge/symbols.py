"""Broker symbol normalization: case, whitespace and the per-tenant alias table."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from chainflow.core.errors import InvalidInput

SYMBOL_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9._\-]{0,31}")
"""What a normalized symbol looks like (matched in full)."""

_CACHE_LIMIT = 4096


class SymbolNormalizer:
    """Turn a broker symbol into the tenant's canonical symbol, or refuse it.

    Normalization strips surrounding whitespace and upper-cases (ASCII only), then maps the
    result through the alias table (keys compared case-insensitively, one step, no chains),
    then requires the result to match ``SYMBOL_PATTERN``. A suffixed symbol with no alias is
    kept as given, upper-cased (``EURUSD.x`` → ``EURUSD.X``): the suffix is never guessed away.
    Alias keys need not match the pattern, so a broker's ``XAUUSD#`` can be mapped; the
    canonical symbols they map to must.

    Results are memoized in a small bounded cache, so the per-tick cost is one dict lookup.
    """

    __slots__ = ("_aliases", "_cache")

    def __init__(self, aliases: Mapping[str, str] | None = None) -> None:
        table: dict[str, str] = {}
        for broker_symbol, canonical_symbol in (aliases or {}).items():
            key = _fold(broker_symbol)
            target = _fold(canonical_symbol)
            if not key:
                raise InvalidInput(
                    f"expected alias keys to be non-empty ASCII broker symbols; "
                    f"received {broker_symbol!r}"
                )
            if target is None or SYMBOL_PATTERN.fullmatch(target) is None:
                raise InvalidInput(
                    f"expected the alias of {broker_symbol!r} to match "
                    f"{SYMBOL_PATTERN.pattern}; received {canonical_symbol!r}"
                )
            table[key] = target
        self._aliases: Mapping[str, str] = MappingProxyType(table)
        # Raw symbol → canonical symbol, or "" for a refused one.
        self._cache: dict[str, str] = {}

    @property
    def aliases(self) -> Mapping[str, str]:
        """Return the alias table with folded (stripped, upper-case) keys and values."""
        return self._aliases

    def normalize(self, symbol: str) -> str | None:
        """Return the canonical symbol for ``symbol``, or ``None`` if it is not a valid one."""
        cached = self._cache.get(symbol)
        if cached is not None:
            return cached or None
        result = self._normalize_uncached(symbol)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[symbol] = result or ""
        return result

    def _normalize_uncached(self, symbol: str) -> str | None:
        folded = _fold(symbol)
        if folded is None:
            return None
        mapped = self._aliases.get(folded, folded)
        return mapped if SYMBOL_PATTERN.fullmatch(mapped) is not None else None


def _fold(symbol: object) -> str | None:
    # ASCII only: str.upper() maps some non-ASCII letters onto ASCII ("ſ" → "S").
    if not isinstance(symbol, str) or not symbol.isascii():
        return None
    return symbol.strip().upper()
