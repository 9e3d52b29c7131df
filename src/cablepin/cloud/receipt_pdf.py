"""The receipt as a PDF in the driver's language (M5), laid out by fpdf2.

Rules kept here:

* The PDF is made from the receipt's evidence bundle (``services/receipts.py``)
  and nothing else, so what it prints is what an auditor can check: driver,
  organisation, month, every session (start, end, kWh, cable), each price
  with its source, total kWh and amount, and the evidence (cable serial,
  certificate fingerprint, epoch, the cable-signed chain head and signature).
* Every label is a gettext message of the portal's catalog, in the driver's
  language; money, numbers and dates are formatted by Babel for that
  language, times in Europe/Berlin with their zone.
* Text is set in DejaVu Sans (Debian ``fonts-dejavu-core``, installed by
  ``scripts/install-pdf-tools.sh``), a Unicode TrueType font embedded in the
  PDF, so umlauts and the euro sign print. Without it the PDF is refused with
  a message that says what to install.
* Money is never a float: the amounts are the receipt's exact decimals.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from babel.numbers import format_currency, format_decimal
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from cablepin.cloud.billing_schemas import EvidenceBundle
from cablepin.cloud.errors import CloudError
from cablepin.cloud.portal.i18n import PORTAL, format_month, format_time

__all__ = ["FONT_DIR", "ReceiptPdf", "render"]

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONTS = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
_MONO = "DejaVuSansMono.ttf"
_FORMAT_LOCALES = {"en": "en_GB"}


@dataclass(frozen=True)
class ReceiptPdf:
    """What the PDF needs beyond the evidence bundle: the people, the decision."""

    bundle: EvidenceBundle
    driver_name: str
    locale: str
    decided_at: dt.datetime | None
    reason: str | None
    late: bool
    supplementary: bool


def _fonts() -> dict[str, Path]:
    paths = {style: FONT_DIR / name for style, name in _FONTS.items()}
    paths["mono"] = FONT_DIR / _MONO
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise CloudError(
            f"the receipt PDF needs the DejaVu fonts ({', '.join(missing)} missing); "
            "install Debian's fonts-dejavu-core (scripts/install-pdf-tools.sh)"
        )
    return paths


class _Layout:
    """The template: a header block, the sessions table, prices, totals, evidence."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self.babel = _FORMAT_LOCALES.get(locale, locale)
        self._ = PORTAL.translations(locale).gettext
        pdf = FPDF(format="A4", unit="mm")
        for style, path in _fonts().items():
            if style == "mono":
                pdf.add_font("DejaVuMono", "", str(path))
            else:
                pdf.add_font("DejaVu", style, str(path))
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.set_margins(15, 15, 15)
        self.pdf = pdf

    # -- formatting --------------------------------------------------------
    def money(self, amount: Decimal) -> str:
        return format_currency(amount, "EUR", locale=self.babel)

    def price(self, price: Decimal) -> str:
        return format_decimal(price, "#,##0.00####", locale=self.babel) + " €/kWh"

    def kwh(self, wh: int) -> str:
        return format_decimal(Decimal(wh) / 1000, "#,##0.000", locale=self.babel) + " kWh"

    def time(self, seconds: int | dt.datetime) -> str:
        moment = (
            seconds
            if isinstance(seconds, dt.datetime)
            else dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        )
        return format_time(moment, self.locale)

    def month(self, month: str) -> str:
        return format_month(month, self.locale)

    # -- drawing -----------------------------------------------------------
    def heading(self, text: str, size: int = 12) -> None:
        self.pdf.ln(3)
        self.pdf.set_font("DejaVu", "B", size)
        self.pdf.multi_cell(0, 7, text, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.set_font("DejaVu", "", 9)

    def field(self, label: str, value: str, *, mono: bool = False) -> None:
        pdf = self.pdf
        pdf.set_font("DejaVu", "B", 9)
        pdf.cell(58, 5, label, new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.set_font("DejaVuMono" if mono else "DejaVu", "", 8 if mono else 9)
        pdf.multi_cell(0, 5, value, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("DejaVu", "", 9)


def render(facts: ReceiptPdf) -> bytes:
    """The receipt PDF's bytes."""
    b = facts.bundle
    r = b.receipt
    lay = _Layout(facts.locale)
    _ = lay._
    pdf = lay.pdf
    pdf.set_title(_("Charging receipt {month}").format(month=lay.month(r.month)))
    pdf.set_author(r.organisation)
    pdf.set_creator("cablepin")
    pdf.set_creation_date(r.submitted_at)
    pdf.add_page()

    lay.heading(_("Charging receipt {month}").format(month=lay.month(r.month)), 15)
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(
        0,
        5,
        _(
            "Reimbursement of electricity for charging a company car at home, "
            "measured by the meter in the charging cable (§ 3 Nr. 50 EStG)."
        ),
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(2)
    lay.field(_("Receipt"), f"{r.id}")
    lay.field(_("Driver"), f"{facts.driver_name} <{r.driver}>")
    lay.field(_("Organisation"), r.organisation)
    lay.field(_("Month"), lay.month(r.month))
    states = {"submitted": _("submitted"), "approved": _("approved"), "rejected": _("rejected")}
    lay.field(_("State"), states.get(r.state, r.state))
    lay.field(_("Submitted"), lay.time(r.submitted_at))
    if facts.decided_at is not None:
        lay.field(_("Decided"), lay.time(facts.decided_at))
    if facts.reason:
        lay.field(_("Reason"), facts.reason)
    if facts.late:
        lay.field(_("Late"), _("submitted after the deadline"))
    if facts.supplementary:
        lay.field(_("Supplementary"), _("a later receipt for a month that already had one"))

    lay.heading(_("Sessions"))
    widths = (40, 40, 24, 26, 50)
    with pdf.table(
        col_widths=widths,
        text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "LEFT"),
        line_height=5,
        first_row_as_headings=True,
    ) as table:
        head = table.row()
        for label in (_("Start"), _("End"), _("Energy"), _("Price"), _("Cable")):
            head.cell(label)
        for line in b.lines:
            row = table.row()
            row.cell(lay.time(line.start))
            row.cell(lay.time(line.end))
            row.cell(lay.kwh(line.wh))
            row.cell(lay.price(Decimal(line.price)))
            row.cell(line.serial)

    lay.heading(_("Prices"))
    methods = {
        "contract": _("the driver's contract price"),
        "flat": _("the statistical flat price"),
    }
    lay.field(_("Pricing method"), methods.get(r.price_source, r.price_source))
    for price in b.prices:
        lay.field(
            lay.price(Decimal(price.price)),
            _("valid {start} to {end}; source: {source}").format(
                start=price.valid_from.isoformat(),
                end=price.valid_to.isoformat(),
                source=price.source,
            ),
        )

    lay.heading(_("Total"))
    lay.field(_("Sessions"), str(len(b.lines)))
    lay.field(_("Energy"), lay.kwh(r.total_wh))
    lay.field(_("Amount"), lay.money(Decimal(r.amount)))
    pdf.set_font("DejaVu", "", 8)
    pdf.multi_cell(
        0,
        4,
        _("The amount is the exact sum of kWh times price, rounded once to cents."),
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )

    lay.heading(_("Evidence"))
    pdf.multi_cell(
        0,
        4,
        _(
            "The cable signed these sessions. An auditor checks them without trusting "
            "the cloud: cablepin verify-receipt with the receipt's evidence bundle and "
            "the factory CA certificate."
        ),
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    for cable in b.cables:
        pdf.ln(1)
        lay.field(_("Cable serial"), cable.serial)
        lay.field(_("Certificate SHA-256"), cable.certificate_sha256, mono=True)
        for chain in cable.chains:
            lay.field(_("Epoch"), str(chain.epoch))
            lay.field(
                _("Sessions in the chain"),
                _("{first} to {last}").format(first=chain.previous.seq + 1, last=chain.head.seq),
            )
            lay.field(_("Signed chain head"), f"{chain.head.seq}: {chain.head.hash}", mono=True)
            lay.field(_("Head signature"), chain.head_sig, mono=True)
    return bytes(pdf.output())
