"""M5: the receipt PDF through HTTP, read back with poppler (pdftotext, pdftoppm)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from cablepin.cloud.models import User

from .conftest import CABLE_A, DRIVER_A1, DRIVER_A2, FM_A, FM_B, SUPPORT, World
from .test_evidence import receipt_with_evidence

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
    reason="needs poppler-utils: make pdf-tools (scripts/install-pdf-tools.sh)",
)


def pdf_text(tmp_path: Path, content: bytes, name: str) -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(content)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout


def download(world: World, receipt_id: int, who: str) -> Any:
    return world.call("GET", f"/api/v1/receipts/{receipt_id}/pdf", who)


def test_m5_receipt_pdf_in_german_shows_sessions_total_and_evidence(
    world: World, tmp_path: Path
) -> None:
    receipt, bundle = receipt_with_evidence(world)
    r = download(world, receipt["id"], DRIVER_A1)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    assert f"receipt-2023-11-{receipt['id']}.pdf" in r.headers["content-disposition"]
    text = pdf_text(tmp_path, r.content, "de")
    # Sessions 1, 2 and 4: 7001 + 12345 + 999 Wh; 19346 Wh at 0.3275 and 999 Wh at 0.29.
    assert receipt["total_wh"] == 20345
    assert receipt["amount"] == "6.63"
    assert "Ladequittung November 2023" in text
    assert "20,345 kWh" in text
    assert "6,63 €" in text
    assert "7,001 kWh" in text
    assert "12,345 kWh" in text
    assert "0,999 kWh" in text
    assert "3.333 kWh" not in text
    assert "3,333 kWh" not in text
    assert "0,3275 €/kWh" in text
    assert "0,29 €/kWh" in text
    assert "02.11.2023 20:00 MEZ" in text
    assert CABLE_A in text
    cable = bundle["cables"][0]
    squashed = "".join(text.split())
    assert cable["certificate_sha256"] in squashed
    assert cable["chains"][0]["head_sig"] in squashed
    assert cable["chains"][0]["head"]["hash"] in squashed
    assert "Nachweis" in text
    assert "Epoche" in text
    # It renders: poppler draws the first page as a PNG.
    png = tmp_path / "page"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(tmp_path / "de.pdf"), str(png)],
        check=True,
        timeout=60,
    )
    page = next(tmp_path.glob("page*.png"))
    assert page.read_bytes().startswith(b"\x89PNG")
    assert page.stat().st_size > 1000


def test_m5_receipt_pdf_in_the_drivers_language_whoever_downloads_it(
    world: World, tmp_path: Path
) -> None:
    receipt, _bundle = receipt_with_evidence(world)
    with world.session() as db:
        db.execute(update(User).where(User.email == DRIVER_A1).values(locale="en"))
        db.commit()
    r = download(world, receipt["id"], FM_A)
    assert r.status_code == 200, r.text
    text = pdf_text(tmp_path, r.content, "en")
    assert "Charging receipt November 2023" in text
    assert "20.345 kWh" in text
    assert "€6.63" in text
    assert "2023-11-02 20:00 CET" in text


def test_m5_m8_receipt_pdf_only_for_the_driver_and_their_fleet_manager(world: World) -> None:
    receipt, _bundle = receipt_with_evidence(world)
    for who in (DRIVER_A2, FM_B):
        r = download(world, receipt["id"], who)
        assert (r.status_code, r.json()["error"]) == (404, "unknown_receipt"), who
    r = download(world, receipt["id"], SUPPORT)
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    assert download(world, receipt["id"], None).status_code == 401
    r = download(world, 999999, DRIVER_A1)
    assert (r.status_code, r.json()["error"]) == (404, "unknown_receipt")
