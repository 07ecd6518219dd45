"""Report periods, figures, e-mail body and PDF: hand-computed figures on built trades."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pypdf
import pytest

from chainflow.analytics.reports.chart import Box, chart_geometry
from chainflow.analytics.reports.email_body import render_email
from chainflow.analytics.reports.errors import ReportReferenceInvalidError
from chainflow.analytics.reports.figures import period_figures
from chainflow.analytics.reports.pdf import render_pdf
from chainflow.analytics.reports.periods import (
    last_complete,
    parse_reference,
    period_containing,
    reference_of,
    zone_named,
)
from chainflow.analytics.reports.source import ReportFigureSource
from tests.analytics.builders import (
    HOUR_MS,
    ListedTrades,
    analytics_on,
    make_trade,
    started_store,
    store_url,
)

JAKARTA = zone_named("Asia/Jakarta")  # UTC+7, no DST
NEW_YORK = zone_named("America/New_York")
# 2024-01-03 01:00 UTC is 08:00 in Jakarta: the last complete local day is 2024-01-02,
# 2024-01-01 17:00 UTC to 2024-01-02 17:00 UTC.
NOW = datetime(2024, 1, 3, 1, 0, tzinfo=UTC)
DAY_START = int(datetime(2024, 1, 1, 17, 0, tzinfo=UTC).timestamp() * 1000)
DAY_END = DAY_START + 24 * HOUR_MS
TRADES = [
    make_trade(0, DAY_START - 30 * HOUR_MS, -20.0),  # an earlier UTC day
    make_trade(1, DAY_START - 2 * HOUR_MS, 220.0),  # same UTC day, before local midnight
    make_trade(2, DAY_START + 3 * HOUR_MS, 100.0, symbol="GBPUSD"),
    make_trade(3, DAY_START + 7 * HOUR_MS, -150.0),
    make_trade(4, DAY_START + 9 * HOUR_MS, 80.0),
    make_trade(5, DAY_END, 999.0),  # the next local day
]
OPENING = 10_000.0 - 20.0 + 220.0  # 10,200


class TestPeriods:
    def test_the_last_complete_local_day_and_week(self) -> None:
        day = last_complete("daily", NOW, JAKARTA)
        assert (day.start_ms, day.end_ms, day.label) == (DAY_START, DAY_END, "2024-01-02")
        week = last_complete("weekly", NOW, JAKARTA)
        assert week.start == datetime(2023, 12, 25, tzinfo=JAKARTA)
        assert week.end == datetime(2024, 1, 1, tzinfo=JAKARTA)
        assert week.label == "2023-12-25 to 2023-12-31"

    def test_a_day_across_the_spring_change_is_23_hours(self) -> None:
        day = period_containing("daily", datetime(2024, 3, 10, 12, tzinfo=UTC), NEW_YORK)
        assert day.end_ms - day.start_ms == 23 * HOUR_MS
        assert day.start.utcoffset() != day.end.utcoffset()

    def test_a_reference_names_the_same_period_back(self) -> None:
        day = last_complete("daily", NOW, JAKARTA)
        reference = reference_of("t1", "u1", day)
        assert reference == "t1/u1/daily/2024-01-02T00:00+07:00/2024-01-03T00:00+07:00"
        tenant, user, parsed = parse_reference(reference)
        assert (tenant, user, parsed.kind) == ("t1", "u1", "daily")
        assert (parsed.start_ms, parsed.end_ms, parsed.label) == (DAY_START, DAY_END, day.label)

    @pytest.mark.parametrize(
        "reference",
        [
            "t1/u1/monthly/2024-01-02T00:00+07:00/2024-01-03T00:00+07:00",
            "t1/u1/daily/x/y",
            "t1/u1/daily/2024-01-02T00:00/2024-01-03T00:00",
            "/u1/daily/a/b",
        ],
    )
    def test_a_malformed_reference_is_refused(self, reference: str) -> None:
        with pytest.raises(ReportReferenceInvalidError):
            parse_reference(reference)


class TestFigures:
    def test_figures_of_the_local_day_equal_the_hand_computed_ones(self) -> None:
        day = last_complete("daily", NOW, JAKARTA)
        f = period_figures(day, OPENING, TRADES)
        assert (f.trades, f.wins, f.pnl) == (3, 2, 30.0)
        assert f.closing_equity == 10_230.0
        assert f.return_pct == pytest.approx(30.0 / 10_200.0 * 100)
        assert f.win_rate == pytest.approx(2 / 3)
        assert f.profit_factor == pytest.approx(180.0 / 150.0)
        # peak 10,300 after the GBPUSD win, trough 10,150 after the loss
        assert f.max_drawdown_pct == pytest.approx(150.0 / 10_300.0 * 100)
        assert [(p.ts, p.equity) for p in f.curve] == [
            (DAY_START, 10_200.0),
            (DAY_START + 3 * HOUR_MS, 10_300.0),
            (DAY_START + 7 * HOUR_MS, 10_150.0),
            (DAY_START + 9 * HOUR_MS, 10_230.0),
        ]
        assert [(r.symbol, r.trades, r.wins, r.pnl) for r in f.symbols] == [
            ("GBPUSD", 1, 1, 100.0),
            ("EURUSD", 2, 1, -70.0),
        ]

    def test_an_empty_period_has_no_trades_and_a_flat_curve(self) -> None:
        week = period_containing("weekly", datetime(2023, 12, 20, tzinfo=UTC), JAKARTA)
        f = period_figures(week, 10_000.0, TRADES)
        assert f.empty and f.pnl == 0.0 and f.return_pct == 0.0 and f.win_rate is None
        assert f.max_drawdown_pct == 0.0 and [p.equity for p in f.curve] == [10_000.0]


class TestFigureSource:
    async def test_the_store_gives_the_same_figures_as_the_trades(self, tmp_path: Path) -> None:
        source = ListedTrades()
        source.trades["t1"] = TRADES
        async with (
            started_store(store_url("duckdb", tmp_path)) as store,
            analytics_on(store, source) as analytics,
        ):
            figures = ReportFigureSource(analytics=analytics, store=store)
            got = await figures.figures("t1", last_complete("daily", NOW, JAKARTA))
            other = await figures.figures("t2", last_complete("daily", NOW, JAKARTA))
        assert got.opening_equity == pytest.approx(OPENING)
        assert (got.trades, got.pnl, got.closing_equity) == (3, 30.0, pytest.approx(10_230.0))
        assert other.empty and other.opening_equity == 10_000.0  # never another tenant's


class TestRendering:
    def figures(self):  # type: ignore[no-untyped-def]
        return period_figures(last_complete("daily", NOW, JAKARTA), OPENING, TRADES)

    def test_the_email_shows_the_figures_and_escapes_names(self) -> None:
        email = render_email(
            self.figures(), tenant_name="<Acme & Co>", zone="Asia/Jakarta", settings_url="https://a"
        )
        assert email.subject == "Daily report 2024-01-02: +0.29% over 3 trades"
        assert "&lt;Acme &amp; Co&gt;" in email.html and "<Acme" not in email.html
        for shown in ("+0.29%", "+30.00", "66.67%", "1.46%", "GBPUSD", "10,230.00"):
            assert shown in email.html and shown in email.text
        assert "Trades: 3" in email.text

    def test_the_pdf_is_deterministic_and_readable(self) -> None:
        first = render_pdf(self.figures(), tenant_name="Acme", zone="Asia/Jakarta")
        assert first == render_pdf(self.figures(), tenant_name="Acme", zone="Asia/Jakarta")
        text = pypdf.PdfReader(io.BytesIO(first)).pages[0].extract_text()
        for shown in ("Return: +0.29%", "Trades: 3", "Max drawdown: 1.46%", "GBPUSD"):
            assert shown in text

    def test_an_empty_period_says_so_honestly(self) -> None:
        empty = period_figures(last_complete("weekly", NOW, JAKARTA), 10_000.0, [])
        email = render_email(empty, tenant_name="", zone="UTC", settings_url="https://a")
        pdf = render_pdf(empty, tenant_name="", zone="UTC")
        assert "no trades" in email.subject and "No trades in this period" in email.html
        assert (
            "No trades in this period" in pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        )

    def test_the_chart_stays_in_its_box(self) -> None:
        box = Box(10.0, 50.0, 180.0, 80.0)
        chart = chart_geometry(self.figures(), box)
        points = chart.equity_line + chart.drawdown_area
        assert all(box.x <= x <= box.x + box.width for x, _ in points)
        assert all(box.y <= y <= box.bottom for _, y in points)
        opening_y = chart.equity_box.bottom - (10_200 - 10_150) / 150 * chart.equity_box.height
        assert chart.equity_line[0] == (box.x, pytest.approx(opening_y))
        assert max(y for _, y in chart.drawdown_area) == pytest.approx(chart.drawdown_box.bottom)
        assert chart.drawdown_area[0][1] == chart.drawdown_area[-1][1] == chart.drawdown_box.y
