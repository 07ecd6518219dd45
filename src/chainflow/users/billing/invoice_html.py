"""An invoice as an HTML page (Jinja2, autoescaped), for the browser or printing.

The page loads nothing and runs no script. Its one stylesheet is inline, allowed by its
SHA-256 in the page's own content security policy (``invoice_content_security_policy``: the
API's ``default-src 'none'`` plus that hash), which the route sends with it: the API's
policy alone would leave the page unstyled.
"""

from __future__ import annotations

import base64
import hashlib

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from chainflow.users.billing.invoices import InvoiceView

STYLESHEET = (
    "body{font-family:sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;width:100%}\n"
    "td,th{padding:.4em;border-bottom:1px solid #ddd;text-align:left}.num{text-align:right}"
)

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Invoice {{ invoice.invoice_number }}</title>
<style>{{ css }}</style></head><body>
<p><strong>{{ seller }}</strong></p>
<h1>Invoice {{ invoice.invoice_number }}</h1>
<p>Issued {{ invoice.issued_at.strftime("%Y-%m-%d %H:%M UTC") }} &middot;
Order {{ invoice.order_id }}</p>
<p><strong>Status: Paid</strong></p>
<p>Billed to: {{ invoice.customer_name }} &lt;{{ invoice.customer_email }}&gt;</p>
<p>Tenant: {{ invoice.tenant_id }}</p>
{% if invoice.period_start and invoice.period_end %}
<p>Service period: {{ invoice.period_start.strftime("%Y-%m-%d") }} to
{{ invoice.period_end.strftime("%Y-%m-%d") }}</p>
{% endif %}
<table>
<thead><tr><th>Description</th><th class="num">Qty</th><th class="num">Unit price</th>
<th class="num">Amount</th></tr></thead>
<tbody>
{% for line in invoice.lines %}
<tr><td>{{ line.description }}</td><td class="num">{{ line.quantity }}</td>
<td class="num">{{ rupiah(line.unit_price_idr) }}</td>
<td class="num">{{ rupiah(line.amount_idr) }}</td></tr>
{% endfor %}
</tbody>
<tfoot>
<tr><th colspan="3">Subtotal</th><td class="num">{{ rupiah(invoice.subtotal_idr) }}</td></tr>
{% if invoice.discount_idr %}
<tr><th colspan="3">Discount</th><td class="num">{{ rupiah(-invoice.discount_idr) }}</td></tr>
{% endif %}
{% if invoice.credit_idr %}
<tr><th colspan="3">Credit (unused part of the previous plan)</th>
<td class="num">{{ rupiah(-invoice.credit_idr) }}</td></tr>
{% endif %}
<tr><th colspan="3">PPN {{ invoice.tax_rate_percent }}%</th>
<td class="num">{{ rupiah(invoice.tax_idr) }}</td></tr>
<tr><th colspan="3">Total</th><td class="num">{{ rupiah(invoice.total_idr) }}</td></tr>
</tfoot></table>
</body></html>
"""


def rupiah(amount_idr: int) -> str:
    """Return ``amount_idr`` as rupiah text in the id-ID style: ``Rp 1.234.567``, and
    ``-Rp 50.000`` for a negative amount (a discount or credit)."""
    sign = "-" if amount_idr < 0 else ""
    return sign + "Rp " + f"{abs(amount_idr):,}".replace(",", ".")


def render_invoice_html(invoice: InvoiceView, *, seller: str = "ChainFlow") -> str:
    """Return ``invoice``, sold by ``seller``, as a standalone HTML document (send it with
    ``invoice_content_security_policy()``)."""
    environment = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    template = environment.from_string(_TEMPLATE)
    css = Markup(STYLESHEET)  # our own constant, hashed into the policy as is
    return template.render(invoice=invoice, rupiah=rupiah, seller=seller, css=css)


def invoice_content_security_policy() -> str:
    """The page's policy: nothing but its own inline stylesheet, by hash."""
    digest = hashlib.sha256(STYLESHEET.encode("utf-8")).digest()
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
