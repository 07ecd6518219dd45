"""An invoice as a PDF (fpdf2), with the content of the HTML page (``invoice_html``).

Only the core Helvetica font is used, so nothing is embedded and text is Latin-1: any
character outside it (a name in another script) prints as ``?`` rather than failing. The
creation date is the invoice's issue time, so two renders of one invoice are the same
bytes (fpdf2 derives the file id from the content and that date).
"""

from __future__ import annotations

from datetime import UTC, datetime

from fpdf import FPDF

from chainflow.users.billing.invoice_html import rupiah
from chainflow.users.billing.invoices import InvoiceView

PAGE_WIDTH_MM = 210
MARGIN_MM = 18
CONTENT_WIDTH_MM = PAGE_WIDTH_MM - 2 * MARGIN_MM
LINE_MM = 6.0
# Column widths of the lines table: description, quantity, unit price, amount.
COLUMNS_MM = (92.0, 14.0, 34.0, 34.0)
FONT = "Helvetica"


def latin1(text: str) -> str:
    """Return ``text`` with every character outside Latin-1 replaced by ``?``."""
    return text.encode("latin-1", "replace").decode("latin-1")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class _InvoiceDocument:
    """Lay one invoice out on an A4 page."""

    def __init__(self, invoice: InvoiceView, seller: str) -> None:
        self.invoice = invoice
        self.seller = seller
        self.pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        self.pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
        self.pdf.set_auto_page_break(auto=True, margin=MARGIN_MM)
        self.pdf.set_creation_date(_aware(invoice.issued_at))
        self.pdf.set_title(latin1(f"Invoice {invoice.invoice_number}"))
        self.pdf.set_author(latin1(seller))
        self.pdf.add_page()

    def text_line(self, text: str, *, size: float = 10, bold: bool = False) -> None:
        self.pdf.set_font(FONT, style="B" if bold else "", size=size)
        self.pdf.cell(CONTENT_WIDTH_MM, LINE_MM, latin1(text), new_x="LMARGIN", new_y="NEXT")

    def header(self) -> None:
        invoice = self.invoice
        self.text_line(self.seller, size=12, bold=True)
        self.pdf.ln(2)
        self.text_line(f"Invoice {invoice.invoice_number}", size=16, bold=True)
        self.text_line(
            f"Issued {_aware(invoice.issued_at):%Y-%m-%d %H:%M} UTC - Order {invoice.order_id}"
        )
        self.text_line("Status: Paid", bold=True)
        self.text_line(f"Billed to: {invoice.customer_name} <{invoice.customer_email}>")
        self.text_line(f"Tenant: {invoice.tenant_id}")
        if invoice.period_start is not None and invoice.period_end is not None:
            self.text_line(
                f"Service period: {invoice.period_start:%Y-%m-%d} to {invoice.period_end:%Y-%m-%d}"
            )
        self.pdf.ln(3)

    def row(self, cells: tuple[str, str, str, str], *, bold: bool = False) -> None:
        self.pdf.set_font(FONT, style="B" if bold else "", size=10)
        aligns = ("L", "R", "R", "R")
        for text, width, align in zip(cells, COLUMNS_MM, aligns, strict=True):
            self.pdf.cell(width, LINE_MM + 1, latin1(text), border="B", align=align)
        self.pdf.ln()

    def total(self, label: str, amount: str, *, bold: bool = False) -> None:
        self.pdf.set_font(FONT, style="B" if bold else "", size=10)
        label_width = sum(COLUMNS_MM[:3])
        self.pdf.cell(label_width, LINE_MM + 1, latin1(label), align="R")
        self.pdf.cell(COLUMNS_MM[3], LINE_MM + 1, latin1(amount), align="R")
        self.pdf.ln()

    def lines(self) -> None:
        self.row(("Description", "Qty", "Unit price", "Amount"), bold=True)
        for line in self.invoice.lines:
            self.row(
                (
                    line.description,
                    str(line.quantity),
                    rupiah(line.unit_price_idr),
                    rupiah(line.amount_idr),
                )
            )
        self.pdf.ln(2)

    def totals(self) -> None:
        invoice = self.invoice
        self.total("Subtotal", rupiah(invoice.subtotal_idr))
        if invoice.discount_idr:
            self.total("Discount", rupiah(-invoice.discount_idr))
        if invoice.credit_idr:
            self.total("Credit (unused part of the previous plan)", rupiah(-invoice.credit_idr))
        self.total(f"PPN {invoice.tax_rate_percent}%", rupiah(invoice.tax_idr))
        self.total(f"Total ({invoice.currency})", rupiah(invoice.total_idr), bold=True)

    def render(self) -> bytes:
        self.header()
        self.lines()
        self.totals()
        return bytes(self.pdf.output())


def render_invoice_pdf(invoice: InvoiceView, *, seller: str) -> bytes:
    """Return ``invoice`` as a one-page PDF document, sold by ``seller``."""
    return _InvoiceDocument(invoice, seller).render()


def pdf_filename(invoice: InvoiceView) -> str:
    """Return the download name of ``invoice``'s PDF (its printed number)."""
    return f"{invoice.invoice_number}.pdf"
