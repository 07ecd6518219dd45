"""A report's e-mail: subject, plain text and HTML (Jinja2, autoescaped).

The HTML shows the figures and the per-symbol table; the chart is in the attached PDF
(an e-mail client blocks or strips inline images and SVG too often to rely on them).
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import Environment, StrictUndefined, select_autoescape

from chainflow.analytics.reports.figures import ReportFigures
from chainflow.analytics.reports.formatting import (
    money,
    percent,
    ratio,
    signed_money,
    signed_percent,
)

_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family:Helvetica,Arial,sans-serif;color:#222;max-width:640px">
<p style="color:#666">{{ tenant_name }}</p>
<h1 style="font-size:20px">{{ f.period.title }} performance report</h1>
<p>{{ f.period.label }} ({{ zone }})</p>
{% if f.empty %}
<p><strong>No trades in this period.</strong> Your equity stayed at
{{ money(f.opening_equity) }}.</p>
{% else %}
<table style="border-collapse:collapse">
<tr><th align="left">Return</th><td align="right">{{ signed_percent(f.return_pct) }}</td></tr>
<tr><th align="left">Realized P&amp;L</th><td align="right">{{ signed_money(f.pnl) }}</td></tr>
<tr><th align="left">Trades</th><td align="right">{{ f.trades }}</td></tr>
<tr><th align="left">Win rate</th><td align="right">{{ percent(win_rate) }}</td></tr>
<tr><th align="left">Profit factor</th><td align="right">{{ ratio(f.profit_factor) }}</td></tr>
<tr><th align="left">Max drawdown</th>
<td align="right">{{ percent(f.max_drawdown_pct) }}</td></tr>
<tr><th align="left">Equity</th>
<td align="right">{{ money(f.opening_equity) }} &rarr; {{ money(f.closing_equity) }}</td></tr>
</table>
<h2 style="font-size:16px">By symbol</h2>
<table style="border-collapse:collapse;width:100%">
<tr><th align="left">Symbol</th><th align="right">Trades</th><th align="right">Win rate</th>
<th align="right">P&amp;L</th></tr>
{% for row in f.symbols %}
<tr><td>{{ row.symbol }}</td><td align="right">{{ row.trades }}</td>
<td align="right">{{ percent(pct(row.hit_rate)) }}</td>
<td align="right">{{ signed_money(row.pnl) }}</td></tr>
{% endfor %}
</table>
{% endif %}
<p>The equity curve and drawdown are in the attached PDF.</p>
<p style="color:#666;font-size:12px">Change or stop these reports:
<a href="{{ settings_url }}">{{ settings_url }}</a></p>
</body></html>
"""

_TEXT = """{{ tenant_name }}: {{ f.period.title | lower }} performance report
{{ f.period.label }} ({{ zone }})
{% if f.empty %}
No trades in this period. Your equity stayed at {{ money(f.opening_equity) }}.
{% else %}
Return: {{ signed_percent(f.return_pct) }}
Realized P&L: {{ signed_money(f.pnl) }}
Trades: {{ f.trades }}
Win rate: {{ percent(win_rate) }}
Profit factor: {{ ratio(f.profit_factor) }}
Max drawdown: {{ percent(f.max_drawdown_pct) }}
Equity: {{ money(f.opening_equity) }} -> {{ money(f.closing_equity) }}

By symbol:
{% for row in f.symbols %}- {{ row.symbol }}: {{ row.trades }} \
trade{{ "" if row.trades == 1 else "s" }}, win rate \
{{ percent(pct(row.hit_rate)) }}, P&L {{ signed_money(row.pnl) }}
{% endfor %}{% endif %}
The equity curve and drawdown are in the attached PDF.
Change or stop these reports: {{ settings_url }}
"""


@dataclass(frozen=True, slots=True)
class ReportEmail:
    subject: str
    text: str
    html: str


def _pct(share: float | None) -> float | None:
    return None if share is None else share * 100.0


def _environments() -> tuple[Environment, Environment]:
    helpers = {
        "money": money,
        "signed_money": signed_money,
        "percent": percent,
        "signed_percent": signed_percent,
        "ratio": ratio,
        "pct": _pct,
    }
    html = Environment(
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )
    text = Environment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)
    for environment in (html, text):
        environment.globals.update(helpers)
    return html, text


_HTML_ENV, _TEXT_ENV = _environments()
_HTML_TEMPLATE = _HTML_ENV.from_string(_HTML)
_TEXT_TEMPLATE = _TEXT_ENV.from_string(_TEXT)


def subject_of(figures: ReportFigures) -> str:
    """``Daily report 2024-01-01: +0.50% over 3 trades`` (or ``no trades``)."""
    period = figures.period
    if figures.empty:
        return f"{period.title} report {period.label}: no trades"
    count = "1 trade" if figures.trades == 1 else f"{figures.trades} trades"
    change = signed_percent(figures.return_pct)
    return f"{period.title} report {period.label}: {change} over {count}"


def render_email(
    figures: ReportFigures, *, tenant_name: str, zone: str, settings_url: str
) -> ReportEmail:
    """Return the e-mail of ``figures`` (``zone``: the IANA name the period is local to)."""
    subject = subject_of(figures)
    values = {
        "f": figures,
        "subject": subject,
        "tenant_name": tenant_name or "ChainFlow",
        "zone": zone,
        "settings_url": settings_url,
        "win_rate": _pct(figures.win_rate),
    }
    return ReportEmail(
        subject=subject, text=_TEXT_TEMPLATE.render(values), html=_HTML_TEMPLATE.render(values)
    )
