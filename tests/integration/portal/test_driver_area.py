"""M8: drivers sign in to the portal and work on their own pages (month view, receipts, PDF)."""

from __future__ import annotations

import re

import httpx

from . import seed
from .conftest import choose_language, csrf_of, sign_in

PDF_PROOF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
ANNA = seed.DRIVERS_A[0][1]
BEN = seed.DRIVERS_A[1][1]


def api_token(client: httpx.Client, email: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/login", json={"email": email, "password": seed.PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def anna_can_bill_2026(client: httpx.Client) -> None:
    """Her fleet manager's 2026 policy (contract price) and her verified tariff of 0.30."""
    fm = api_token(client, seed.FM_A)
    r = client.put("/api/v1/billing/policy/2026", json={"method": "contract"}, headers=fm)
    assert r.status_code == 200, r.text
    r = client.post(
        "/api/v1/me/tariffs",
        headers=api_token(client, ANNA),
        data={"valid_from": "2026-01-01", "valid_to": "2026-12-31", "price": "0.30"},
        files={"document": ("contract.pdf", PDF_PROOF, "application/octet-stream")},
    )
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/tariffs/{r.json()['id']}/verify", headers=fm)
    assert r.status_code == 200, r.text


def test_m8_driver_signs_in_and_lands_on_their_own_page(client: httpx.Client) -> None:
    page = client.get("/signin")
    response = client.post(
        "/signin",
        data={"email": ANNA, "password": seed.PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/me"
    home = client.get("/me")
    assert home.status_code == 200
    assert "CBL-00001001" in home.text  # her cable
    assert "CBL-00001002" not in home.text  # Ben's
    # The fleet pages send a driver home; they show no fleet data.
    overview = client.get("/")
    assert overview.status_code == 303
    assert overview.headers["location"] == "/me"
    assert client.get("/cables").status_code in (303, 403, 404)


def test_m8_fleet_manager_has_no_driver_area(client: httpx.Client) -> None:
    sign_in(client, seed.FM_A)
    assert client.get("/me").status_code == 404
    assert client.get("/me/months/2026-10").status_code == 404


def test_m3_m8_month_view_deselect_preview_submit_and_pdf(client: httpx.Client) -> None:
    anna_can_bill_2026(client)
    sign_in(client, ANNA)
    month = client.get("/me/months/2026-10")
    assert month.status_code == 200
    assert "Meine Ladevorgänge im Oktober 2026" in month.text  # not "im 2026-10"
    ids = re.findall(r'name="session" value="(\d+)" checked', month.text)
    assert len(ids) >= 3
    token = csrf_of(month.text)
    keep = ids[1:]  # the first one was charged away from home
    preview = client.post(
        "/me/months/2026-10",
        data={"csrf_token": token, "session": keep, "action": "preview"},
    )
    assert preview.status_code == 200
    assert f"{len(keep)} Ladevorgänge ausgewählt" in preview.text
    assert f'value="{ids[0]}">' in preview.text  # shown, unticked
    total = re.search(r"<strong>([\d,]+) €</strong>", preview.text)
    assert total is not None
    # Without the CSRF token nothing is submitted.
    refused = client.post("/me/months/2026-10", data={"session": keep, "action": "submit"})
    assert refused.status_code == 403
    done = client.post(
        "/me/months/2026-10",
        data={"csrf_token": token, "session": keep, "action": "submit"},
    )
    assert done.status_code == 303, done.text
    home = client.get(done.headers["location"])
    assert "Ihr Beleg wurde eingereicht" in home.text
    receipt_id = re.search(r'href="/me/receipts/(\d+)/pdf"', home.text)
    assert receipt_id is not None
    # The amount previewed is the amount (Babel: a no-break space before the €).
    assert f"{total.group(1)} €" in home.text.replace("\xa0", " ")
    pdf = client.get(f"/me/receipts/{receipt_id.group(1)}/pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    # The sessions are on the receipt now: the month view says so.
    again = client.get("/me/months/2026-10")
    assert f"Beleg {receipt_id.group(1)}" in again.text
    # Ben sees neither Anna's receipt nor her PDF.
    client.cookies.clear()
    sign_in(client, BEN)
    assert client.get(f"/me/receipts/{receipt_id.group(1)}/pdf").status_code == 404
    assert f"/me/receipts/{receipt_id.group(1)}/pdf" not in client.get("/me").text


def upload_tariff(
    client: httpx.Client,
    token: str,
    document: tuple[str, bytes, str] | None,
    *,
    price: str = "0,3275",
    valid: tuple[str, str] = ("2026-01-01", "2026-12-31"),
) -> httpx.Response:
    """The driver's tariff form as a browser sends it: multipart, with the CSRF token."""
    return client.post(
        "/me/tariffs",
        data={"csrf_token": token, "price": price, "valid_from": valid[0], "valid_to": valid[1]},
        files={"document": document or ("", b"", "application/octet-stream")},
    )


def test_m2_m8_driver_uploads_a_tariff_with_its_proof_in_the_portal(client: httpx.Client) -> None:
    sign_in(client, ANNA)
    home = client.get("/me")
    assert 'href="/me/tariffs"' in home.text
    form = client.get("/me/tariffs")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text
    token = csrf_of(form.text)
    # The German decimal comma is read as the price 0.3275; the proof is told by its content.
    done = upload_tariff(client, token, ("vertrag.bin", PDF_PROOF, "application/octet-stream"))
    assert done.status_code == 303, done.text
    page = client.get(done.headers["location"])
    assert "Ihr Tarif wurde hochgeladen" in page.text
    assert "0,3275 €/kWh" in page.text
    # The driver downloads their own proof from the same page (a download, not shown inline).
    own = re.search(r'href="(/me/tariffs/\d+/document)"', page.text)
    assert own is not None
    mine = client.get(own.group(1))
    assert (mine.status_code, mine.content) == (200, PDF_PROOF)
    assert mine.headers["content-disposition"].startswith("attachment;")
    assert mine.headers["x-content-type-options"] == "nosniff"
    # The fleet manager sees it with its proof, exactly as uploaded.
    client.cookies.clear()
    sign_in(client, seed.FM_A)
    tariffs = client.get("/billing/tariffs")
    assert ANNA in tariffs.text
    link = re.search(r'href="(/billing/tariffs/\d+/document)"', tariffs.text)
    assert link is not None
    proof = client.get(link.group(1))
    assert (proof.status_code, proof.content) == (200, PDF_PROOF)
    assert proof.headers["content-type"] == "application/pdf"
    assert proof.headers["content-disposition"].startswith("attachment;")


def test_m2_r1_a_proof_carrying_html_is_never_shown_on_the_portals_origin(
    client: httpx.Client,
) -> None:
    """A ``%PDF-`` file may carry HTML and script: the portal hands it out as a download."""
    polyglot = b"%PDF-1.4\n<html><script>alert(document.cookie)</script></html>"
    sign_in(client, ANNA)
    token = csrf_of(client.get("/me/tariffs").text)
    assert upload_tariff(client, token, ("x.pdf", polyglot, "application/pdf")).status_code == 303
    link = re.search(r'href="(/me/tariffs/\d+/document)"', client.get("/me/tariffs").text)
    assert link is not None
    tariff_id = link.group(1).split("/")[3]
    for who, path in ((ANNA, link.group(1)), (seed.FM_A, f"/billing/tariffs/{tariff_id}/document")):
        client.cookies.clear()
        sign_in(client, who)
        r = client.get(path)
        assert (r.status_code, r.content) == (200, polyglot), who
        assert r.headers["content-disposition"].startswith("attachment;"), who
        assert "inline" not in r.headers["content-disposition"]
        assert r.headers["x-content-type-options"] == "nosniff"
    # Ben (same organisation) cannot fetch Anna's proof through the driver route.
    client.cookies.clear()
    sign_in(client, BEN)
    assert client.get(link.group(1)).status_code == 404


def test_m2_m8_portal_upload_refusals_say_what_to_do_in_the_users_language(
    client: httpx.Client,
) -> None:
    sign_in(client, ANNA)
    token = csrf_of(client.get("/me/tariffs").text)
    # A text file named .pdf: the content decides, and the message says what is accepted.
    fake = upload_tariff(
        client, token, ("contract.pdf", b"just text, not a PDF", "application/pdf")
    )
    assert fake.status_code == 409
    assert "keine PDF-, PNG- oder JPEG-Datei" in fake.text
    assert 'value="0,3275"' in fake.text  # what was typed is kept
    # No file chosen; a price with a typo; dates that are not dates.
    none = upload_tariff(client, token, None)
    assert (none.status_code, "Wählen Sie den Nachweis" in none.text) == (422, True)
    typo = upload_tariff(client, token, ("c.pdf", PDF_PROOF, "application/pdf"), price="0,3x")
    assert (typo.status_code, "etwa 0,3275" in typo.text) == (409, True)
    dates = upload_tariff(
        client, token, ("c.pdf", PDF_PROOF, "application/pdf"), valid=("morgen", "")
    )
    assert (dates.status_code, "Gültigkeitstag" in dates.text) == (422, True)
    # Over 5 MB: refused by the service's rule, or before the body is read when far over.
    big = PDF_PROOF + b"0" * (5 * 1024 * 1024)
    assert b"%PDF-" in big[:5]
    large = upload_tariff(client, token, ("big.pdf", big, "application/pdf"))
    assert (large.status_code, "größer als 5 MB" in large.text) == (413, True)
    huge = upload_tariff(client, token, ("huge.pdf", big + b"0" * 100_000, "application/pdf"))
    assert (huge.status_code, "größer als 5 MB" in huge.text) == (413, True)
    # Without the CSRF token nothing is stored.
    forged = upload_tariff(client, "forged", ("c.pdf", PDF_PROOF, "application/pdf"))
    assert forged.status_code == 403
    assert "Noch kein Tarif." in client.get("/me/tariffs").text
    # A second tariff over the same dates overlaps the first.
    first = upload_tariff(client, token, ("c.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png"))
    assert first.status_code == 303, first.text
    overlap = upload_tariff(client, token, ("c.pdf", PDF_PROOF, "application/pdf"))
    assert (overlap.status_code, "überschneiden" in overlap.text) == (409, True)
    # In English, the same refusal in English.
    choose_language(client, "en", "/me/tariffs")
    english = upload_tariff(client, token, ("contract.pdf", b"text", "application/pdf"))
    assert "not a PDF, PNG or JPEG" in english.text
