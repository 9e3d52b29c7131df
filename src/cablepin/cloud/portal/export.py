"""CSV exports and the small server-rendered chart.

Rules kept here (one guard for every CSV the product writes):
- A cell that a spreadsheet would run as a formula is neutralised with a
  leading ``'`` (OWASP "CSV injection"): one that starts with ``= + - @``, tab
  or CR, and likewise every place *inside* a cell where a ``;`` or ``,`` is
  followed by one of them, because a spreadsheet that splits on the other
  separator (German Excel splits on ``;``) starts a new cell there. Names and
  reasons are typed by people.
- A CSV is written in its reader's convention: German with ``;`` between
  cells and a decimal comma (4.2 kWh is ``4,2``), English with ``,`` and a
  decimal point; both UTF-8 with a BOM so umlauts survive.
- The chart is plain SVG built from numbers only (no user text inside), with
  a text alternative; the page also shows the same numbers as a table.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from cablepin.cloud.portal.queries import MonthTotal

__all__ = ["bar_chart_svg", "csv_cell", "csv_stream", "decimal_text", "kwh_text"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A formula character at the start of the cell or right after a separator (spaces between
# are skipped by spreadsheets, so they are allowed here too).
_FORMULA_AT_CELL_START = re.compile(r"(^|[;,])([ ]*)([=+\-@\t\r])")


def csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return text
    return _FORMULA_AT_CELL_START.sub(lambda m: f"{m[1]}{m[2]}'{m[3]}", text)


def decimal_text(value: Decimal | str, locale: str) -> str:
    """A decimal number in the reader's convention: ``52.20`` -> ``52,20`` (de), as is (en).

    Never a thousands separator: a German spreadsheet reads ``4.200`` as 4200.
    """
    text = value if isinstance(value, str) else f"{value:f}"
    return text.replace(".", ",") if locale == "de" else text


def kwh_text(wh: int, locale: str) -> str:
    """Watt-hours as kWh in the reader's convention: 4200 -> ``4,2`` (de) or ``4.2`` (en)."""
    return decimal_text((Decimal(wh) / 1000).normalize(), locale)


def csv_stream(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, locale: str = "de"
) -> Iterator[str]:
    """UTF-8 CSV with a BOM (so spreadsheet programs read umlauts right), row by row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if locale == "de" else ",")
    buffer.write("\ufeff")
    writer.writerow([csv_cell(h) for h in header])
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([csv_cell(v) for v in row])
        yield buffer.getvalue()


def bar_chart_svg(months: Sequence[MonthTotal], *, title: str, width: int = 640) -> str:
    """kWh per month as bars; labels are month numbers, values come from the data."""
    height, top, bottom, left = 200, 16, 28, 8
    plot_h = height - top - bottom
    peak = max((m.kwh for m in months), default=0.0) or 1.0
    slot = (width - 2 * left) / max(len(months), 1)
    bar_w = max(slot * 0.7, 2)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="chart-title" class="chart">',
        f'<title id="chart-title">{_escape(title)}</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - left}" y2="{top + plot_h}" '
        'class="axis"/>',
    ]
    for i, m in enumerate(months):
        h = plot_h * (m.kwh / peak)
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" class="bar">'
            f"<title>{_escape(m.month)}: {m.kwh:.1f} kWh</title></rect>"
        )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{height - 10}" text-anchor="middle" '
            f'class="label">{_escape(m.month[5:])}</text>'
        )
        if m.wh:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{max(y - 4, 12):.1f}" text-anchor="middle" '
                f'class="value">{m.kwh:.0f}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
