"""Currency strength of the FX majors from the log returns of the pairs a tenant trades.

A pair ``BASEQUOTE`` with log return ``r`` contributes ``+r`` to its base currency and ``-r``
to its quote currency. A currency's strength is the mean of its contributions over the pairs
that contain it; currencies in no pair are omitted. With ``zscore=True`` the strengths are
then standardised across the currencies present (population standard deviation; all zeros
when every strength is equal).

Symbols are matched on their first six letters, case-insensitive, when both halves are major
currencies, so broker suffixes (``EURUSD.a``, ``EURUSDm``) work. Other symbols (``XAUUSD``,
``US500``) are skipped. Two symbols for the same pair are an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.features.batch.averages import as_series, check_period
from chainflow.features.errors import InvalidFeatureInputError

FloatArray = NDArray[np.float64]

MAJOR_CURRENCIES: tuple[str, ...] = ("EUR", "GBP", "USD", "JPY", "CHF", "AUD", "CAD", "NZD")


def parse_currency_pair(symbol: str) -> tuple[str, str] | None:
    """Return ``(base, quote)`` of an FX-major symbol, or ``None`` if it is not one."""
    head = symbol[:6].upper()
    base, quote = head[:3], head[3:]
    if base in MAJOR_CURRENCIES and quote in MAJOR_CURRENCIES and base != quote:
        return base, quote
    return None


def pair_incidence(symbols: list[str]) -> tuple[list[int], list[str], FloatArray]:
    """Return the kept symbol positions, the currencies present and the ±1 incidence matrix.

    The matrix is pairs × currencies: +1 at the base, -1 at the quote.
    """
    kept: list[int] = []
    pairs: list[tuple[str, str]] = []
    symbol_of_pair: dict[tuple[str, str], str] = {}
    for position, symbol in enumerate(symbols):
        pair = parse_currency_pair(symbol)
        if pair is None:
            continue
        if pair in symbol_of_pair:
            raise InvalidFeatureInputError(
                f"expected one symbol per currency pair; "
                f"received {symbol_of_pair[pair]!r} and {symbol!r}"
            )
        symbol_of_pair[pair] = symbol
        kept.append(position)
        pairs.append(pair)
    present = {currency for pair in pairs for currency in pair}
    currencies = [currency for currency in MAJOR_CURRENCIES if currency in present]
    column = {currency: i for i, currency in enumerate(currencies)}
    incidence = np.zeros((len(pairs), len(currencies)))
    for row, (base, quote) in enumerate(pairs):
        incidence[row, column[base]] = 1.0
        incidence[row, column[quote]] = -1.0
    return kept, currencies, incidence


def aggregate_strength(pair_returns: FloatArray, incidence: FloatArray, zscore: bool) -> FloatArray:
    """Return strengths (m×c) from pair returns (m×p) and the incidence matrix (p×c)."""
    pairs_per_currency = np.abs(incidence).sum(axis=0)
    strength = (pair_returns @ incidence) / pairs_per_currency
    if not zscore:
        return strength
    centered = strength - strength.mean(axis=1, keepdims=True)
    std = np.sqrt((centered * centered).mean(axis=1, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = centered / std
    return np.where(std > 0.0, scaled, 0.0)


def currency_strength(
    returns_by_pair: Mapping[str, float], *, zscore: bool = False
) -> dict[str, float]:
    """Return each present major currency's strength from one log return per pair."""
    symbols = list(returns_by_pair)
    kept, currencies, incidence = pair_incidence(symbols)
    if not currencies:
        return {}
    values = [float(returns_by_pair[symbols[i]]) for i in kept]
    for i, value in zip(kept, values, strict=True):
        if not math.isfinite(value):
            raise InvalidFeatureInputError(
                f"expected a finite return for {symbols[i]!r}; received {value!r}"
            )
    strength = aggregate_strength(np.array([values]), incidence, zscore)[0]
    return {currency: float(value) for currency, value in zip(currencies, strength, strict=True)}


def rolling_currency_strength(
    returns_by_pair: Mapping[str, ArrayLike], window: int, *, zscore: bool = False
) -> dict[str, FloatArray]:
    """Return each present major currency's strength series over a rolling ``window``.

    ``returns_by_pair`` holds aligned log-return series of equal length n (for example the
    columns of ``aligned_log_returns``). Each pair's returns are summed over the last
    ``window`` bars, then aggregated as in ``currency_strength``. Entry ``t`` uses bars
    ``t-window+1 .. t``; the first ``window - 1`` entries are ``nan``.
    """
    check_period(window, 1, "window")
    symbols = list(returns_by_pair)
    kept, currencies, incidence = pair_incidence(symbols)
    if not currencies:
        return {}
    series = [as_series(returns_by_pair[symbols[i]], symbols[i]) for i in kept]
    lengths = {s.size for s in series}
    if len(lengths) != 1:
        raise InvalidFeatureInputError(
            f"expected return series of equal length; received lengths {lengths}"
        )
    matrix = np.column_stack(series)  # n × p
    if not np.isfinite(matrix).all():
        raise InvalidFeatureInputError("expected finite returns; received nan or inf")
    n = matrix.shape[0]
    out = np.full((n, len(currencies)), np.nan)
    if n >= window:
        windows = np.lib.stride_tricks.sliding_window_view(matrix, window, axis=0)
        out[window - 1 :] = aggregate_strength(windows.sum(axis=2), incidence, zscore)
    return {currency: out[:, i].copy() for i, currency in enumerate(currencies)}
