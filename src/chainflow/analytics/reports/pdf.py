"""A report as a one-page PDF (fpdf2): the figures, the chart drawn with vector primitives
(a polyline and a filled polygon, no image library) and the per-symbol table.

Only the core Helvetica font is used (Latin-1; other characters print as ``?``). The
creation date is the period's end, so one report renders to the same bytes every time
(fpdf2 derives the file id from the content and that date): a retried delivery attaches
the very file the first try would have.
"""

from __future__ import annotations

from fpdf import FPDF

from chainflow.analytics.reports.chart import Box, ChartGeometry, chart_geometry
from chainflow.analytics.reports.figures import ReportFigures
from chainflow.analytics.reports.formatting import (
    money,
    percent,
    ratio,
    signed_money,
    signed_percent,
)

PAGE_WIDTH_MM = 210
MARGIN_MM = 16
CONTENT_WIDTH_MM = PAGE_WIDTH_MM - 2 * MARGIN_MM
LINE_MM = 6.0
CHART_HEIGHT_MM = 78.0
COLUMNS_MM = (70.0, 30.0, 38.0, 40.0)  # symbol, trades, win rate, P&L
FONT = "Helvetica"
EQUITY_RGB = (31, 94, 168)
DRAWDOWN_RGB = (214, 69, 65)
FRAME_RGB = (190, 190, 190)
TEXT_RGB = (34, 34, 34)


def latin1(text: str) -> str:
    """Return ``text`` with every character outside Latin-1 replaced by ``?``."""
    return text.encode("latin-1", "replace").decode("latin-1")


def pdf_filename(figures: ReportFigures) -> str:
    """``chainflow-daily-report-2024-01-01.pdf`` (the period's first local day)."""
    return f"chainflow-{figures.period.kind}-report-{figures.period.start.date()}.pdf"


class _ReportDocument:
    def __init__(self, figures: ReportFigures, tenant_name: str, zone: str) -> None:
        self.figures = figures
        self.tenant_name = tenant_name or "ChainFlow"
        self.zone = zone
        pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
        pdf.set_auto_page_break(auto=True, margin=MARGIN_MM)
        pdf.set_creation_date(figures.period.end)
        pdf.set_title(latin1(f"{figures.period.title} report {figures.period.label}"))
        pdf.set_author(latin1(self.tenant_name))
        pdf.add_page()
        self.pdf = pdf

    def line(self, text: str, *, size: float = 10, bold: bool = False) -> None:
        self.pdf.set_font(FONT, style="B" if bold else "", size=size)
        self.pdf.cell(CONTENT_WIDTH_MM, LINE_MM, latin1(text), new_x="LMARGIN", new_y="NEXT")

    def header(self) -> None:
        period = self.figures.period
        self.pdf.set_text_color(*TEXT_RGB)
        self.line(self.tenant_name, size=11, bold=True)
        self.line(f"{period.title} performance report", size=16, bold=True)
        self.line(f"{period.label} ({self.zone})")
        self.pdf.ln(2)

    def key_figures(self) -> None:
        f = self.figures
        if f.empty:
            self.line("No trades in this period.", bold=True)
            self.line(f"Equity stayed at {money(f.opening_equity)}.")
            return
        win_rate = None if f.win_rate is None else f.win_rate * 100.0
        self.line(f"Return: {signed_percent(f.return_pct)}", bold=True)
        self.line(f"Realized P&L: {signed_money(f.pnl)}")
        self.line(f"Trades: {f.trades}")
        self.line(f"Win rate: {percent(win_rate)}")
        self.line(f"Profit factor: {ratio(f.profit_factor)}")
        self.line(f"Max drawdown: {percent(f.max_drawdown_pct)}")
        self.line(f"Equity: {money(f.opening_equity)} -> {money(f.closing_equity)}")

    def chart(self) -> None:
        self.pdf.ln(3)
        self.line("Equity and drawdown", size=11, bold=True)
        top = self.pdf.get_y() + 2
        geometry = chart_geometry(
            self.figures, Box(MARGIN_MM, top, CONTENT_WIDTH_MM, CHART_HEIGHT_MM)
        )
        self._frames(geometry)
        pdf = self.pdf
        pdf.set_fill_color(*DRAWDOWN_RGB)
        pdf.set_draw_color(*DRAWDOWN_RGB)
        pdf.set_line_width(0.2)
        pdf.polygon(list(geometry.drawdown_area), style="DF")
        pdf.set_draw_color(*EQUITY_RGB)
        pdf.set_line_width(0.5)
        pdf.polyline(list(geometry.equity_line))
        self._axis_labels(geometry)
        pdf.set_y(top + CHART_HEIGHT_MM + 4)

    def _frames(self, geometry: ChartGeometry) -> None:
        pdf = self.pdf
        pdf.set_draw_color(*FRAME_RGB)
        pdf.set_line_width(0.2)
        for box in (geometry.equity_box, geometry.drawdown_box):
            pdf.rect(box.x, box.y, box.width, box.height)

    def _axis_labels(self, geometry: ChartGeometry) -> None:
        pdf = self.pdf
        pdf.set_font(FONT, size=7)
        pdf.set_text_color(110, 110, 110)
        equity, drawdown = geometry.equity_box, geometry.drawdown_box
        labels = (
            (equity.y + 3, money(geometry.equity_high)),
            (equity.bottom - 1, money(geometry.equity_low)),
            (drawdown.y + 3, "drawdown 0%"),
            (drawdown.bottom - 1, f"-{geometry.drawdown_scale_pct:.2f}%"),
        )
        for y, text in labels:
            pdf.text(equity.x + 1, y, latin1(text))
        pdf.set_text_color(*TEXT_RGB)

    def symbols(self) -> None:
        if self.figures.empty:
            return
        self.line("By symbol", size=11, bold=True)
        self.row(("Symbol", "Trades", "Win rate", "P&L"), bold=True)
        for row in self.figures.symbols:
            hit = None if row.hit_rate is None else row.hit_rate * 100.0
            self.row((row.symbol, str(row.trades), percent(hit), signed_money(row.pnl)))

    def row(self, cells: tuple[str, str, str, str], *, bold: bool = False) -> None:
        self.pdf.set_font(FONT, style="B" if bold else "", size=10)
        aligns = ("L", "R", "R", "R")
        for text, width, align in zip(cells, COLUMNS_MM, aligns, strict=True):
            self.pdf.cell(width, LINE_MM + 1, latin1(text), border="B", align=align)
        self.pdf.ln()

    def render(self) -> bytes:
        self.header()
        self.key_figures()
        self.chart()
        self.symbols()
        return bytes(self.pdf.output())


def render_pdf(figures: ReportFigures, *, tenant_name: str, zone: str) -> bytes:
    """Return the report of ``figures`` as a PDF document."""
    return _ReportDocument(figures, tenant_name, zone).render()
