"""The model card as one self-contained HTML page, its charts as inline SVG drawn here.

Three charts: the reliability diagram (hit rate against confidence per calibration bin, the
diagonal being perfect calibration, each dot's area the bin's rows), the top features by
permutation importance as bars, and the equity curve of the out-of-sample signal backtest.
This module computes their geometry (numbers only); the template
(``templates/model_card.html.j2``, Jinja2 with autoescape on) writes every element, so a
feature, model or operator name can never become markup.

The page loads nothing and runs no script. Its one stylesheet is inline, allowed by its
SHA-256 in the page's own content security policy (``card_content_security_policy``: the
API's ``default-src 'none'`` plus that hash), which the route sends with it; the charts use
SVG presentation attributes, which no policy restricts.
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment

    from chainflow.ml.cards.types import Backtest, Calibration, Importance, ModelCard

__all__ = ["card_content_security_policy", "render_card_html"]

TEMPLATE = "model_card.html.j2"
STYLESHEET = "model_card.css"
PLOT = 240.0  # side of the reliability plot, in SVG units
MARGIN = 40.0
BAR_HEIGHT = 18.0
BAR_LABEL_WIDTH = 170.0
BAR_WIDTH = 300.0
CURVE_WIDTH = 560.0
CURVE_HEIGHT = 200.0


@dataclass(frozen=True, slots=True)
class Dot:
    x: float
    y: float
    r: float
    title: str


@dataclass(frozen=True, slots=True)
class ReliabilityChart:
    size: float
    margin: float
    dots: tuple[Dot, ...]
    line: str  # polyline points through the dots
    ticks: tuple[tuple[float, str], ...]  # position along an axis, label


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    y: float
    width: float
    value: str


@dataclass(frozen=True, slots=True)
class BarChart:
    width: float
    height: float
    label_width: float
    bar_height: float
    bars: tuple[Bar, ...]


@dataclass(frozen=True, slots=True)
class CurveChart:
    width: float
    height: float
    margin: float
    points: str
    baseline_y: float  # where equity 1.0 is
    labels: tuple[str, str, str, str]  # first date, last date, lowest, highest equity


def render_card_html(card: ModelCard) -> str:
    """Return the card's HTML page (send it with ``card_content_security_policy()``)."""
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            card=card,
            css=_stylesheet_markup(),
            reliability=reliability_chart(card.calibration),
            importance=importance_chart(card.importance),
            equity=equity_chart(card.backtest),
        )
    )


def card_content_security_policy() -> str:
    """The page's policy: nothing but its own inline stylesheet, by hash."""
    digest = hashlib.sha256(_stylesheet().encode("utf-8")).digest()
    style = "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"
    return "; ".join(
        (
            "default-src 'none'",
            f"style-src {style}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )


# --- chart geometry ----------------------------------------------------------------------


def reliability_chart(calibration: Calibration | None) -> ReliabilityChart | None:
    """Dots at (confidence, hit rate) in a ``PLOT`` square, y upwards, area ~ rows."""
    if calibration is None or not calibration.bins:
        return None
    most = max(b.rows for b in calibration.bins)
    dots = tuple(
        Dot(
            x=_round(MARGIN + b.confidence * PLOT),
            y=_round(MARGIN + (1.0 - b.hit_rate) * PLOT),
            r=_round(3.0 + 7.0 * math.sqrt(b.rows / most)),
            title=f"confidence {b.confidence:.2f}, hit rate {b.hit_rate:.2f}, {b.rows} rows",
        )
        for b in calibration.bins
    )
    ticks = tuple((_round(MARGIN + v * PLOT), f"{v:g}") for v in (0.0, 0.25, 0.5, 0.75, 1.0))
    return ReliabilityChart(
        size=PLOT,
        margin=MARGIN,
        dots=dots,
        line=" ".join(f"{d.x},{d.y}" for d in dots),
        ticks=ticks,
    )


def importance_chart(importance: Importance | None) -> BarChart | None:
    """One bar per top feature, longest for the largest increase (negatives: no bar)."""
    if importance is None or not importance.permutation:
        return None
    largest = max((w.value for w in importance.permutation), default=0.0)
    bars = tuple(
        Bar(
            label=w.feature,
            y=_round(i * (BAR_HEIGHT + 4.0)),
            width=_round(BAR_WIDTH * max(w.value, 0.0) / largest) if largest > 0 else 0.0,
            value=f"{w.value:.3g}",
        )
        for i, w in enumerate(importance.permutation)
    )
    return BarChart(
        width=BAR_LABEL_WIDTH + BAR_WIDTH + 70.0,
        height=len(bars) * (BAR_HEIGHT + 4.0),
        label_width=BAR_LABEL_WIDTH,
        bar_height=BAR_HEIGHT,
        bars=bars,
    )


def equity_chart(backtest: Backtest | None) -> CurveChart | None:
    """The chained equity (1.0 at the start) over time, scaled to the plot."""
    if backtest is None or len(backtest.equity) < 2:
        return None
    ts = [p.ts for p in backtest.equity]
    values = [p.equity for p in backtest.equity]
    low, high = min(*values, 1.0), max(*values, 1.0)
    pad = (high - low) * 0.1 or 0.01
    low, high = low - pad, high + pad
    span_ts = (ts[-1] - ts[0]) or 1

    def x_of(t: int) -> float:
        return _round(MARGIN + (t - ts[0]) / span_ts * (CURVE_WIDTH - 2 * MARGIN))

    def y_of(v: float) -> float:
        return _round(MARGIN / 2 + (high - v) / (high - low) * (CURVE_HEIGHT - MARGIN))

    return CurveChart(
        width=CURVE_WIDTH,
        height=CURVE_HEIGHT,
        margin=MARGIN,
        points=" ".join(f"{x_of(t)},{y_of(v)}" for t, v in zip(ts, values, strict=True)),
        baseline_y=y_of(1.0),
        labels=(_date(ts[0]), _date(ts[-1]), f"{min(values):.4f}", f"{max(values):.4f}"),
    )


# --- template ----------------------------------------------------------------------------


@cache
def _environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    environment = Environment(
        loader=PackageLoader("chainflow.ml.cards", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(num=_number, pct=_percent, date=_date, moment=_moment)
    return environment


@cache
def _stylesheet() -> str:
    return files("chainflow.ml.cards").joinpath("templates", STYLESHEET).read_text(encoding="utf-8")


def _stylesheet_markup() -> Any:
    from markupsafe import Markup

    return Markup(_stylesheet())  # our own file, hashed into the policy as is


def _number(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}"


def _percent(value: Any) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    return f"{value:+.2%}"


def _date(ts_ms: Any) -> str:
    if not isinstance(ts_ms, int):
        return "-"
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _moment(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _round(value: float) -> float:
    return round(value, 2)
