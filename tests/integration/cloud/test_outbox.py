"""M7: e-mail through the outbox, read back from a real SMTP server (aiosmtpd) in this process.

Every test runs on SQLite and PostgreSQL (``world``). Changes go through the
HTTP API of the real app (the invitation through its service, as the portal
calls it); the sender is ``cloud.sender.Sender`` talking SMTP to the server,
on the test's clock, so back-off is proved without sleeping.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from cablepin.cloud.db import make_sessionmaker, transaction
from cablepin.cloud.domain.outbox import MailState
from cablepin.cloud.models import AuditEvent, OutboxMessage, User
from cablepin.cloud.sender import Sender
from cablepin.cloud.services import accounts, audit, cables, invitations
from cablepin.cloud.services.invitations import INVITATION_TTL
from cablepin.cloud.services.outbox import SENT_LOG_TTL
from cablepin.cloud.settings import Settings

from .billing_helpers import at, charge_at, set_policy, submit, sync, verified_tariff
from .conftest import (
    CABLE_A,
    DRIVER_A1,
    DRIVER_A2,
    FM_A,
    PASSWORD,
    SUPPORT,
    World,
    assigned_world,
)
from .smtp import Recorder, smtp_server
from .test_race_pg import CABLEPIN, free_port

MAIL_FROM = "cablepin <noreply@fleet.example>"
BILLING = "billing@a.example"


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    with smtp_server() as server:
        yield server


def sender(world: World, port: int) -> Sender:
    settings = Settings(
        db=world.url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_tls="none",
        mail_from=MAIL_FROM,
    )
    sessions = make_sessionmaker(world.client.app.state.engine)  # type: ignore[attr-defined]
    return Sender(sessions, settings, clock=world.clock)


def set_locale(world: World, email: str, locale: str) -> None:
    with world.session() as db, transaction(db):
        db.execute(update(User).where(User.email == email).values(locale=locale))


def invite(world: World, email: str, name: str) -> None:
    with world.session() as db:
        fm = db.scalar(select(User).where(User.email == FM_A))
        assert fm is not None
        invitations.invite_driver(
            db, accounts.actor_for_user(db, fm), email=email, name=name, now=world.clock()
        )


def outbox_rows(world: World) -> list[OutboxMessage]:
    with world.session() as db:
        return list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def submitted_receipt(world: World) -> int:
    """DRIVER_A1 submits November 2023 (three sessions); the policy names BILLING."""
    assigned_world(world)
    set_policy(world, FM_A, 2023, recipient_email=BILLING)
    verified_tariff(world, DRIVER_A1, FM_A)
    for day in (3, 10, 17):
        charge_at(world.cables[CABLE_A], at(2023, 11, day))
    sync(world, DRIVER_A1, CABLE_A)
    r = submit(world, DRIVER_A1, "2023-11")
    assert r.status_code == 201, r.text
    receipt_id: int = r.json()["id"]
    return receipt_id


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def sign_in(world: World, email: str) -> None:
    token = csrf_of(world.client.get("/signin").text)
    r = world.client.post(
        "/signin",
        data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def test_m7_every_message_once_in_its_recipients_language_with_the_pdf(
    world: World, smtp: tuple[Recorder, int]
) -> None:
    server, port = smtp
    set_locale(world, DRIVER_A1, "en")  # A2 and the billing address: German, the default
    receipt = submitted_receipt(world)
    assert world.call("POST", f"/api/v1/receipts/{receipt}/approve", FM_A).status_code == 200
    assert world.call("POST", f"/api/v1/cables/{CABLE_A}/pin-reset", FM_A, json={}).is_success
    r = world.call(
        "POST", f"/api/v1/cables/{CABLE_A}/handover", FM_A, json={"driver_email": DRIVER_A2}
    )
    assert r.status_code == 200, r.text
    invite(world, "new@a.example", "Nina New")

    done = sender(world, port).deliver_due()

    assert done.as_dict() == {"sent": 7, "deferred": 0, "failed": 0}
    ids = server.ids()
    assert sorted(ids) == sorted(row.message_id for row in outbox_rows(world))
    assert len(set(ids)) == 7  # each exactly once
    subjects = {(r.rcpt[0], r.subject) for r in server.received}
    month = "2023-11"
    # Months as people write them, in each recipient's language (not "2023-11").
    assert subjects == {
        (DRIVER_A1, f"Receipt {receipt} for November 2023 submitted"),
        (DRIVER_A1, f"Receipt {receipt} for November 2023 approved"),
        (DRIVER_A1, f"You may set a new PIN for cable {CABLE_A}"),
        (DRIVER_A1, f"Cable {CABLE_A} is no longer assigned to you"),
        (BILLING, f"Beleg {receipt} für November 2023 eingereicht"),
        (DRIVER_A2, f"Das Kabel {CABLE_A} wird an Sie übergeben"),
        ("new@a.example", "Ihre Einladung zu den Ladekabeln von Fleet A"),
    }
    for got in server.received:
        assert got.message["From"] == MAIL_FROM
        assert got.message["Content-Language"] == ("en" if got.rcpt == [DRIVER_A1] else "de")
        assert got.text().strip()
        assert "<p>" in got.html()
    assert "November 2023" in server.to(BILLING)[0].text()
    for address in (DRIVER_A1, BILLING):
        (mail,) = [
            r for r in server.to(address) if "ubmitted" in r.subject or "ingereicht" in r.subject
        ]
        ((name, pdf),) = mail.attachments()
        assert name == f"receipt-{month}-{receipt}.pdf"
        assert pdf.startswith(b"%PDF-")
    (pin,) = [r for r in server.to(DRIVER_A1) if "PIN" in r.subject]
    assert "change-pin CBL-00000001" in pin.text()
    (invitation,) = server.to("new@a.example")
    link = re.search(r"http://\S+/invite/\S+", invitation.text())
    assert link is not None
    assert link.group(0) in invitation.html()
    # Delivered messages keep no content (the invitation's link included); nothing is left.
    assert all(row.state is MailState.SENT and row.content is None for row in outbox_rows(world))
    assert sender(world, port).deliver_due().sent == 0
    assert len(server.received) == 7


def test_m7_a_rolled_back_change_sends_nothing(world: World, smtp: tuple[Recorder, int]) -> None:
    server, port = smtp
    assigned_world(world)
    with world.session() as db:
        fm = db.scalar(select(User).where(User.email == FM_A))
        assert fm is not None
        actor = accounts.actor_for_user(db, fm)

        def change_then_fail() -> None:
            with transaction(db):
                cables.allow_pin_reset(db, actor, CABLE_A, now=world.clock())
                assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 1
                raise RuntimeError("something after the change fails")

        with pytest.raises(RuntimeError):
            change_then_fail()
    # A refused request too: the handover to the cable's own driver is a 409.
    r = world.call(
        "POST", f"/api/v1/cables/{CABLE_A}/handover", FM_A, json={"driver_email": DRIVER_A1}
    )
    assert r.status_code == 409
    assert outbox_rows(world) == []
    assert sender(world, port).deliver_due().sent == 0
    assert server.received == []


def test_m7_451_twice_then_accepted_is_delivered_once_after_growing_waits(
    world: World, smtp: tuple[Recorder, int]
) -> None:
    server, port = smtp
    assigned_world(world)
    assert world.call("POST", f"/api/v1/cables/{CABLE_A}/pin-reset", FM_A, json={}).is_success
    server.replies = ["451 4.3.0 try again later", "451 4.3.0 try again later"]
    mail = sender(world, port)

    assert mail.deliver_due().deferred == 1
    world.clock.advance(seconds=29)
    assert mail.deliver_due().as_dict() == {"sent": 0, "deferred": 0, "failed": 0}  # not yet
    world.clock.advance(seconds=1)
    assert mail.deliver_due().deferred == 1  # the second 451; now it waits longer
    world.clock.advance(seconds=59)
    assert mail.deliver_due().as_dict() == {"sent": 0, "deferred": 0, "failed": 0}
    world.clock.advance(seconds=1)
    assert mail.deliver_due().sent == 1

    assert len(server.received) == 1
    assert server.received[0].rcpt == [DRIVER_A1]
    (row,) = outbox_rows(world)
    assert row.state is MailState.SENT
    assert row.attempts == 3


def test_m7_550_is_given_up_shown_to_support_and_retry_delivers_it(
    world: World, smtp: tuple[Recorder, int]
) -> None:
    server, port = smtp
    assigned_world(world)
    assert world.call("POST", f"/api/v1/cables/{CABLE_A}/pin-reset", FM_A, json={}).is_success
    # Servers often echo the address they refused: support sees its domain only.
    server.refuse[DRIVER_A1] = f"550 5.1.1 <{DRIVER_A1}>: mailbox unavailable"
    mail = sender(world, port)
    assert mail.deliver_due().failed == 1
    world.clock.advance(hours=24)
    assert mail.deliver_due().as_dict() == {"sent": 0, "deferred": 0, "failed": 0}  # given up
    (row,) = outbox_rows(world)
    assert row.state is MailState.FAILED
    assert "550 5.1.1" in (row.last_error or "")
    assert DRIVER_A1 not in (row.last_error or "")

    client = world.client
    sign_in(world, SUPPORT)
    page = client.get("/support/mail")
    assert page.status_code == 200
    assert html.escape(row.message_id) in page.text
    domain = DRIVER_A1.rpartition("@")[2]
    assert f"550 5.1.1 &lt;…@{domain}&gt;: mailbox unavailable" in page.text
    assert DRIVER_A1 not in page.text  # the list spans organisations: the domain only
    assert DRIVER_A1.partition("@")[0] + "@" not in page.text
    assert 'id="no-mail-server"' in page.text  # this app has no CABLEPIN_SMTP_HOST
    # The base of the links in mails is named, so support can spot a wrong one.
    assert re.search(r'id="public-url">[^<]*http://127\.0\.0\.1:8000', page.text)
    csrf = csrf_of(page.text)
    no_reason = client.post(
        f"/support/mail/{row.id}/retry", data={"csrf_token": csrf, "reason": ""}
    )
    assert no_reason.status_code == 422
    forged = client.post(f"/support/mail/{row.id}/retry", data={"reason": "x"})
    assert forged.status_code == 403  # no CSRF token
    r = client.post(
        f"/support/mail/{row.id}/retry",
        data={"csrf_token": csrf, "reason": "driver fixed the mailbox (ticket 42)"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text

    server.refuse.clear()
    assert mail.deliver_due().sent == 1
    assert [r.rcpt for r in server.received] == [[DRIVER_A1]]
    with world.session() as db:
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "mail.retried"))
        assert event is not None
        assert event.reason == "driver fixed the mailbox (ticket 42)"
        # The chain names support by pseudonym; the log shows the address beside it (D2).
        assert audit.shown(db, [event])[0].actor_email == SUPPORT


def test_m7_without_a_mail_server_the_invitation_waits_and_the_portal_still_shows_the_link(
    world: World, smtp: tuple[Recorder, int]
) -> None:
    server, port = smtp
    sign_in(world, FM_A)
    csrf = csrf_of(world.client.get("/drivers").text)
    page = world.client.post(
        "/drivers", data={"csrf_token": csrf, "name": "Nina New", "email": "nina@a.example"}
    )
    assert page.status_code == 200, page.text
    shown = re.search(
        r'id="invite-link" class="copy" type="text" readonly value="([^"]+)"', page.text
    )
    assert shown is not None
    assert "Es ist kein Mailserver eingerichtet" in page.text  # this app has no SMTP host
    (row,) = outbox_rows(world)
    assert row.state is MailState.PENDING
    assert row.content is not None
    # Once a server is there, the mail carries the very link the page showed.
    assert sender(world, port).deliver_due().sent == 1
    (mail,) = server.received
    assert shown.group(1) in mail.text()


def retention(world: World, now: dt.datetime) -> dict[str, Any]:
    """``cablepin admin retention`` (the job ``serve`` runs periodically), as a process."""
    done = subprocess.run(
        [CABLEPIN, "admin", "retention", "--db", world.url, "--now", now.isoformat(), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_m7_d2_an_undelivered_invitation_loses_its_link_when_the_invitation_expires(
    world: World, smtp: tuple[Recorder, int]
) -> None:
    server, port = smtp
    server.refuse["nina@a.example"] = "550 <nina@a.example>: user unknown"
    sign_in(world, FM_A)
    csrf = csrf_of(world.client.get("/drivers").text)
    page = world.client.post(
        "/drivers", data={"csrf_token": csrf, "name": "Nina New", "email": "nina@a.example"}
    )
    assert page.status_code == 200, page.text
    token = re.search(r'value="[^"]*/invite/([^"]+)"', page.text)
    assert token is not None
    assert sender(world, port).deliver_due().failed == 1
    (row,) = outbox_rows(world)
    assert row.state is MailState.FAILED
    assert row.content is not None
    assert token.group(1).encode() in row.content
    # While the link is valid, the retention job leaves the mail (support may retry it).
    assert retention(world, world.clock() + INVITATION_TTL / 2)["invitation_mails_cleared"] == 0
    # Once the invitation has expired, its text (with the plaintext link) is deleted.
    later = world.clock() + INVITATION_TTL + dt.timedelta(hours=1)
    assert retention(world, later)["invitation_mails_cleared"] == 1
    (row,) = outbox_rows(world)
    assert (row.state, row.content) == (MailState.FAILED, None)
    assert "new invitation" in (row.last_error or "")
    # Support sees why, and cannot send a mail without its text.
    world.client.cookies.clear()
    sign_in(world, SUPPORT)
    support = world.client.get("/support/mail")
    assert "new invitation" in support.text
    retried = world.client.post(
        f"/support/mail/{row.id}/retry",
        data={"csrf_token": csrf_of(support.text), "reason": "ticket 7"},
    )
    assert retried.status_code == 404
    assert outbox_rows(world)[0].state is MailState.FAILED


def test_m7_d2_the_record_of_a_delivered_mail_is_forgotten_after_a_quarter(
    world: World, smtp: tuple[Recorder, int]
) -> None:
    server, port = smtp
    server.refuse["nina@a.example"] = "550 <nina@a.example>: user unknown"
    invite(world, "nina@a.example", "Nina New")
    invite(world, "otto@a.example", "Otto Other")
    assert sender(world, port).deliver_due().as_dict() == {"sent": 1, "deferred": 0, "failed": 1}
    sent_at = world.clock()

    # Support can still see for a quarter that the mail went out, and to whom.
    kept = retention(world, sent_at + SENT_LOG_TTL - dt.timedelta(hours=1))
    assert kept["sent_mails_forgotten"] == 0
    assert [(r.recipient, r.state) for r in outbox_rows(world)] == [
        ("nina@a.example", MailState.FAILED),
        ("otto@a.example", MailState.SENT),
    ]
    # Then the record of the delivered one goes; the undelivered one waits for support.
    gone = retention(world, sent_at + SENT_LOG_TTL + dt.timedelta(hours=1))
    assert gone["sent_mails_forgotten"] == 1
    assert [(r.recipient, r.state) for r in outbox_rows(world)] == [
        ("nina@a.example", MailState.FAILED)
    ]


def serve_stderr(world: World, **env: str) -> str:
    """What `cablepin serve` says on stderr up to the moment it is up (then it is stopped)."""
    base = {
        k: v for k, v in os.environ.items() if k not in ("CABLEPIN_KEYS", "CABLEPIN_PUBLIC_URL")
    }
    command = [CABLEPIN, "serve", "--db", world.url, "--keys", str(world.keys.directory)]
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(
            [*command, "--port", str(free_port()), "--json"],
            env={**base, "CABLEPIN_RETENTION_INTERVAL_S": "0", **env},
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        try:
            assert proc.stdout is not None
            assert json.loads(proc.stdout.readline())["url"].startswith("http://")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        err.seek(0)
        return err.read()


def test_m7_serve_warns_when_mail_is_on_but_the_public_url_is_a_guess(world: World) -> None:
    guessed = serve_stderr(world, CABLEPIN_SMTP_HOST="127.0.0.1", CABLEPIN_SMTP_TLS="none")
    assert "CABLEPIN_PUBLIC_URL is not set" in guessed
    assert "http://127.0.0.1:" in guessed
    configured = serve_stderr(
        world,
        CABLEPIN_SMTP_HOST="127.0.0.1",
        CABLEPIN_SMTP_TLS="none",
        CABLEPIN_PUBLIC_URL="https://cablepin.example.com",
    )
    assert "CABLEPIN_PUBLIC_URL" not in configured
    assert "CABLEPIN_PUBLIC_URL" not in serve_stderr(world)  # no mail server: links in the portal
