"""M4 and M8 in the portal, through HTTP: the driver's IBAN form, the personnel number and
debtor account, and the fleet manager's month of money out (payroll file, transfer,
receipts that cannot be paid yet, the same file downloaded again)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import sepaxml
import xmlschema

from . import seed
from .conftest import csrf_of, sign_in
from .test_billing_pages import anna_submits_october
from .test_driver_area import ANNA, api_token

IBAN = "DE02 1203 0000 0000 2020 51"
COMPACT = "DE02120300000000202051"
MASKED = "DE** **** **** **** **20 51"
XSD = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.09.xsd"


def driver_id(client: httpx.Client, email: str) -> int:
    page = client.get("/drivers", params={"q": email})
    found = re.search(r'href="/drivers/(\d+)"', page.text)
    assert found, page.text
    return int(found.group(1))


def test_m4_m8_driver_enters_an_iban_on_the_phone_form_and_only_she_sees_it_in_full(
    client: httpx.Client,
) -> None:
    sign_in(client, ANNA)
    home = client.get("/me")
    assert 'href="/me/bank"' in home.text
    page = client.get("/me/bank")
    assert page.status_code == 200
    token = csrf_of(page.text)
    # Without the CSRF token nothing is saved.
    assert client.post("/me/bank", data={"iban": IBAN}).status_code == 403
    typo = client.post("/me/bank", data={"csrf_token": token, "iban": IBAN[:-1] + "2"})
    assert typo.status_code == 409
    assert "Prüfziffern" in typo.text  # German by default, and says what is wrong
    assert IBAN[:-1] + "2" in typo.text  # what she typed is kept in the form (U2)
    short = client.post("/me/bank", data={"csrf_token": token, "iban": "DE02 1203 0000 0000"})
    assert "falsche Anzahl" in short.text
    done = client.post(
        "/me/bank", data={"csrf_token": token, "iban": IBAN, "holder": "Anna Beispiel"}
    )
    assert done.status_code == 303, done.text
    mine = client.get(done.headers["location"])
    assert "Ihre Bankverbindung ist gespeichert" in mine.text
    assert COMPACT in mine.text  # her own page: the IBAN in full
    assert MASKED in client.get("/me").text
    assert COMPACT not in client.get("/me").text
    # In English, the refusal is English.
    english = httpx.Client(base_url=str(client.base_url), cookies={"cablepin_lang": "en"})
    sign_in(english, ANNA)
    refused = english.post(
        "/me/bank", data={"csrf_token": csrf_of(english.get("/me/bank").text), "iban": "XX12"}
    )
    assert refused.status_code in (409, 422)
    assert "IBAN" in refused.text
    assert "Prüfziffern" not in refused.text
    # Her fleet manager sees it masked on the driver page and sets the personnel number.
    client.cookies.clear()
    sign_in(client, seed.FM_A)
    anna = driver_id(client, ANNA)
    driver_page = client.get(f"/drivers/{anna}")
    assert MASKED in driver_page.text
    assert COMPACT not in driver_page.text
    bad = client.post(
        f"/drivers/{anna}/payroll",
        data={"csrf_token": csrf_of(driver_page.text), "personnel_number": "=SUM(A1)"},
    )
    assert bad.status_code == 422
    saved = client.post(
        f"/drivers/{anna}/payroll",
        data={"csrf_token": csrf_of(driver_page.text), "personnel_number": "00815"},
    )
    assert saved.status_code == 303
    assert 'value="00815"' in client.get(f"/drivers/{anna}").text


def test_m4_money_out_page_lists_unpayable_then_pays_and_offers_both_files(
    client: httpx.Client,
) -> None:
    receipt = anna_submits_october(client)
    sign_in(client, seed.FM_A)
    # The debtor account goes in with the policy.
    policy = client.get("/billing/policy/2026")
    saved = client.post(
        "/billing/policy/2026",
        data={
            "csrf_token": csrf_of(policy.text),
            "method": "contract",
            "deadline_day": "10",
            "wage_type": "3400",
            "debtor_name": "Stadtwerke Musterstadt",
            "debtor_iban": "DE75 5121 0800 1245 1261 99",
            "debtor_bic": "SOGEDEFFXXX",
        },
    )
    assert saved.status_code == 303, saved.text
    assert "DE75512108001245126199" in client.get("/billing/policy/2026").text
    receipts = client.get("/billing/receipts?month=2026-10")
    assert "/billing/payouts?month=2026-10" in receipts.text
    approved = client.post(
        f"/billing/receipts/{receipt}",
        data={"csrf_token": csrf_of(receipts.text), "action": "approve", "month": "2026-10"},
    )
    assert approved.status_code == 303

    page = client.get("/billing/payouts?month=2026-10")
    assert page.status_code == 200
    assert "/billing/payouts/2026-10/payroll.csv" in page.text
    unpayable = re.search(r'<ul class="plain" id="unpayable">(.*?)</ul>', page.text, re.S)
    assert unpayable is not None
    assert f"Beleg {receipt}" in unpayable.group(1)  # listed, not dropped
    refused = client.post(
        "/billing/payouts/2026-10/transfer", data={"csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code == 409
    assert "Kein genehmigter Beleg" in refused.text

    csv_file = client.get("/billing/payouts/2026-10/payroll.csv")
    assert csv_file.status_code == 200
    lines = csv_file.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "Personalnummer;Name;Jahr;Monat;Lohnart;Betrag"
    assert re.fullmatch(r";Anna [^;]+;2026;10;3400;\d+,\d\d", lines[1]), lines[1]

    # Anna enters her IBAN; the transfer then pays her receipt.
    anna = api_token(client, ANNA)
    assert client.put("/api/v1/me/bank", json={"iban": IBAN}, headers=anna).status_code == 200
    page = client.get("/billing/payouts?month=2026-10")
    assert 'id="unpayable"' not in page.text
    made = client.post("/billing/payouts/2026-10/transfer", data={"csrf_token": csrf_of(page.text)})
    assert made.status_code == 303, made.text
    after = client.get(made.headers["location"])
    assert "Überweisungsdatei erstellt" in after.text
    run = re.search(r'href="(/billing/payment-runs/(\d+)/sepa.xml)"', after.text)
    assert run is not None
    document = client.get(run.group(1))
    assert document.status_code == 200
    xmlschema.XMLSchema(str(XSD)).validate(document.text)
    assert COMPACT in document.text  # the bank needs it; the page does not show it
    assert COMPACT not in after.text
    assert f"Beleg {receipt}" in document.text
    # The same file again after a failed download; a second transfer pays nothing.
    assert client.get(run.group(1)).content == document.content
    again = client.post(
        "/billing/payouts/2026-10/transfer", data={"csrf_token": csrf_of(after.text)}
    )
    assert again.status_code == 409
    # Another organisation's manager cannot fetch it.
    client.cookies.clear()
    sign_in(client, seed.FM_B)
    assert client.get(run.group(1)).status_code == 404
    assert f"Beleg {receipt}" not in client.get("/billing/payouts?month=2026-10").text
