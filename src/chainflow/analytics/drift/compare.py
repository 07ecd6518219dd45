"""Is the live result beyond noise of the backtest? Three two-sided tests at |z| > 2 (about
95%), each on a sizing-free figure, and a sentence for each gap found.

- **Hit rate**: two-proportion z-test on winning trades (pooled standard error).
- **Mean trade return**: Welch's z on the per-trade price returns.
- **Trade count**: live and backtest counts as Poisson counts over the same bars,
  ``(n_live - n_backtest) / sqrt(n_live + n_backtest)``: trades missed or added live
  (gaps in the tick stream, risk refusals, a halted account) show here.

With fewer than ``MIN_TRADES`` trades on either side nothing is judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chainflow.analytics.drift.legs import LegSummary

MIN_TRADES = 10
Z_LIMIT = 2.0


@dataclass(frozen=True, slots=True)
class Gap:
    figure: str
    live: float | None
    backtest: float | None
    difference: float | None
    z: float | None
    beyond_noise: bool


@dataclass(frozen=True, slots=True)
class Comparison:
    verdict: str  # consistent | drift | insufficient_data
    summary: str
    gaps: tuple[Gap, ...]


def hit_rate_z(live: LegSummary, backtest: LegSummary) -> float | None:
    n1, n2 = live.trades, backtest.trades
    if not n1 or not n2:
        return None
    pooled = (live.wins + backtest.wins) / (n1 + n2)
    error = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if error == 0:
        return None
    return ((live.wins / n1) - (backtest.wins / n2)) / error


def mean_return_z(live: LegSummary, backtest: LegSummary) -> float | None:
    if live.std_return_pct is None or backtest.std_return_pct is None:
        return None
    assert live.mean_return_pct is not None and backtest.mean_return_pct is not None
    error = math.sqrt(
        live.std_return_pct**2 / live.trades + backtest.std_return_pct**2 / backtest.trades
    )
    if error == 0:
        return None
    return (live.mean_return_pct - backtest.mean_return_pct) / error


def count_z(live: LegSummary, backtest: LegSummary) -> float | None:
    total = live.trades + backtest.trades
    return (live.trades - backtest.trades) / math.sqrt(total) if total else None


def gap(figure: str, live: float | None, backtest: float | None, z: float | None) -> Gap:
    difference = None if live is None or backtest is None else live - backtest
    beyond = z is not None and abs(z) > Z_LIMIT
    return Gap(figure, live, backtest, difference, None if z is None else round(z, 3), beyond)


def compare(live: LegSummary, backtest: LegSummary) -> Comparison:
    """Return the gaps between the legs and a plain-language verdict."""
    gaps = (
        gap("hit_rate", live.hit_rate, backtest.hit_rate, hit_rate_z(live, backtest)),
        gap(
            "mean_trade_return_pct",
            live.mean_return_pct,
            backtest.mean_return_pct,
            mean_return_z(live, backtest),
        ),
        gap("trades", float(live.trades), float(backtest.trades), count_z(live, backtest)),
    )
    if live.trades < MIN_TRADES or backtest.trades < MIN_TRADES:
        summary = (
            f"Too few trades to tell drift from noise: live made {live.trades} and the "
            f"backtest {backtest.trades}; at least {MIN_TRADES} each are needed."
        )
        return Comparison("insufficient_data", summary, gaps)
    reasons = [_sentence(g, live, backtest) for g in gaps if g.beyond_noise]
    if not reasons:
        summary = (
            f"Live matches the backtest within noise over {live.trades} live and "
            f"{backtest.trades} backtest trades: hit rate, mean trade return and trade "
            "count are all within 2 standard errors."
        )
        return Comparison("consistent", summary, gaps)
    return Comparison(
        "drift", "Live drifts from the backtest beyond noise: " + "; ".join(reasons) + ".", gaps
    )


def _sentence(found: Gap, live: LegSummary, backtest: LegSummary) -> str:
    z = found.z
    if found.figure == "hit_rate":
        return (
            f"the live hit rate is {live.hit_rate:.0%} against the backtest's "
            f"{backtest.hit_rate:.0%} (z = {z})"
        )
    if found.figure == "mean_trade_return_pct":
        return (
            f"a live trade returns {live.mean_return_pct:+.4f}% on average against "
            f"{backtest.mean_return_pct:+.4f}% in the backtest (z = {z})"
        )
    return (
        f"live made {live.trades} trades where the backtest made {backtest.trades} on the "
        f"same bars (z = {z}): signals were missed or added live (tick gaps, risk "
        "refusals, a halted account)"
    )
