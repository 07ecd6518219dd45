"""The report's chart as page coordinates: an equity step line and a drawdown area.

Pure geometry (no PDF here), so the layout is testable and the PDF only strokes what
this returns. Time runs left to right over the whole period (a quiet afternoon is a flat
stretch); closed-trade equity is a step function, so each trade is a vertical step.
Equity fills the upper panel between its lowest and highest value (a flat curve sits in
the middle); the drawdown hangs below its zero line in the lower panel, scaled to the
period's deepest drawdown (at least 1 %, so a small one looks small).
"""

from __future__ import annotations

from dataclasses import dataclass

from chainflow.analytics.reports.figures import ReportFigures

Point = tuple[float, float]
MIN_DRAWDOWN_SCALE_PCT = 1.0
GAP_MM = 4.0
EQUITY_SHARE = 0.68  # of the chart's height; the rest (minus the gap) is the drawdown


@dataclass(frozen=True, slots=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass(frozen=True, slots=True)
class ChartGeometry:
    equity_box: Box
    drawdown_box: Box
    equity_line: tuple[Point, ...]
    drawdown_area: tuple[Point, ...]  # closed along the zero line
    equity_low: float
    equity_high: float
    drawdown_scale_pct: float


def _steps(times: list[float], values: list[float], end: float) -> list[Point]:
    """Return the step line through ``(times[i], values[i])`` held until ``end``."""
    points = [(times[0], values[0])]
    for x, y in zip(times[1:], values[1:], strict=True):
        points.append((x, points[-1][1]))
        points.append((x, y))
    points.append((end, points[-1][1]))
    return points


def chart_geometry(figures: ReportFigures, box: Box) -> ChartGeometry:
    """Return the chart of ``figures`` laid out in ``box`` (millimetres, y down)."""
    equity_height = (box.height - GAP_MM) * EQUITY_SHARE
    equity_box = Box(box.x, box.y, box.width, equity_height)
    drawdown_box = Box(
        box.x, box.y + equity_height + GAP_MM, box.width, box.height - equity_height - GAP_MM
    )
    start, end = figures.period.start_ms, figures.period.end_ms
    span = max(end - start, 1)

    def x_of(ts: int) -> float:
        return box.x + (min(max(ts, start), end) - start) / span * box.width

    curve = figures.curve
    low = min(p.equity for p in curve)
    high = max(p.equity for p in curve)

    def equity_y(value: float) -> float:
        if high == low:
            return equity_box.y + equity_box.height / 2
        return equity_box.bottom - (value - low) / (high - low) * equity_box.height

    scale = max(MIN_DRAWDOWN_SCALE_PCT, figures.max_drawdown_pct)

    def drawdown_y(pct: float) -> float:
        return drawdown_box.y + pct / scale * drawdown_box.height

    times = [x_of(p.ts) for p in curve]
    right = box.x + box.width
    line = _steps(times, [equity_y(p.equity) for p in curve], right)
    hanging = _steps(times, [drawdown_y(p.drawdown_pct) for p in curve], right)
    area = [(box.x, drawdown_box.y), *hanging, (right, drawdown_box.y)]
    return ChartGeometry(
        equity_box=equity_box,
        drawdown_box=drawdown_box,
        equity_line=tuple(line),
        drawdown_area=tuple(area),
        equity_low=low,
        equity_high=high,
        drawdown_scale_pct=scale,
    )
