"""A small, realistic fleet for the portal tests, built only through the services.

Two organisations, fleet managers, support, drivers and cables. Cables are
registered with genuine device certificates; what the portal shows about
them (PIN still 0000, last sync, sessions by month) comes from the app
endpoints' services (``ingest.connect`` / ``upload_sessions``) with
sessions signed by each cable's device key, as a real app would relay them.
The browser tests and the HTTP tests share this file.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from cablepin.cable.provision import init_keys
from cablepin.cloud.db import make_engine, make_sessionmaker, migrate
from cablepin.cloud.domain.actor import Actor
from cablepin.cloud.keys import load_keys
from cablepin.cloud.models import User
from cablepin.cloud.schemas import ConnectRequest, HeadIn, SessionsUpload
from cablepin.cloud.services import accounts, cables, ingest
from cablepin.protocol import pki
from cablepin.protocol.chain import Head, Record, genesis, link, sign_head
from cablepin.protocol.hello import sign_hello

PASSWORD = "correct horse battery"
ORG_A = "Stadtwerke Musterstadt"
ORG_B = "Beispiel Logistik GmbH"
FM_A = "fm@musterstadt.example"
FM_B = "fm@beispiel.example"
SUPPORT = "support@cablepin.example"
DRIVERS_A = [
    ("Anna Schmidt", "anna@musterstadt.example"),
    ("Ben Müller", "ben@musterstadt.example"),
    ("Clara Weber", "clara@musterstadt.example"),
    ("David Fischer", "david@musterstadt.example"),
]
DRIVER_B = ("Eva Braun", "eva@beispiel.example")
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


@dataclass
class Fleet:
    db_url: str
    keys_dir: Path
    now: dt.datetime
    serials_a: list[str] = field(default_factory=list)
    serials_b: list[str] = field(default_factory=list)
    device_keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _actor(db: Session, email: str) -> Actor:
    user = db.scalar(select(User).where(User.email == email))
    assert user is not None
    return accounts.actor_for_user(db, user)


def _register(db: Session, fleet: Fleet, serial: str, org: str, when: dt.datetime) -> None:
    keys = load_keys(fleet.keys_dir)
    ca_key = pki.load_private_key((fleet.keys_dir / "factory-ca.key").read_bytes())
    device_key = pki.generate_key()
    cert = pki.issue_device_certificate(
        ca_key, keys.factory_ca, serial, device_key.public_key(), when
    )
    cables.register_cable(
        db, cert_pem=pki.certificate_pem(cert), org_name=org, factory_ca=keys.factory_ca, now=when
    )
    fleet.device_keys[serial] = device_key


def _connect(
    db: Session, fleet: Fleet, email: str, serial: str, *, pin_default: bool, when: dt.datetime
) -> None:
    keys = load_keys(fleet.keys_dir)
    detail = cables.cable_detail(db, _actor(db, email), serial, now=when)
    nonce, head_hash = os.urandom(16), b"\0" * 32
    # What the app fetches from GET .../challenge before it says hello to the cable.
    challenge = ingest.challenge(
        db, _actor(db, email), serial, challenge_key=keys.challenge_key, now=when
    ).challenge
    hello = {
        "serial": serial,
        "fw": "1.4.2",
        "epoch": detail.epoch,
        "pin_default": pin_default,
        "nonce": nonce,
        "head": {"seq": detail.synced_seq, "hash": head_hash},
        "wait_s": 0,
        "locked": False,
        "challenge": challenge,
    }
    sig = sign_hello(hello, fleet.device_keys[serial])  # the cable signs its hello
    ingest.connect(
        db,
        _actor(db, email),
        serial,
        ConnectRequest(
            nonce=_b64(nonce),
            epoch=detail.epoch,
            head=HeadIn(seq=detail.synced_seq, hash=_b64(head_hash)),
            pin_default=pin_default,
            fw="1.4.2",
            locked=False,
            sig=_b64(sig),
            challenge=challenge,
        ),
        command_key=keys.command_key,
        challenge_key=keys.challenge_key,
        now=when,
    )


def _sync(
    db: Session, fleet: Fleet, email: str, serial: str, sessions: list[tuple[dt.datetime, int]]
) -> None:
    """Upload sessions (start time, Wh) in one signed batch, as the app would."""
    actor = _actor(db, email)
    detail = cables.cable_detail(db, actor, serial, now=sessions[-1][0])
    epoch, seq = detail.epoch, detail.synced_seq
    previous = genesis(serial, epoch) if seq == 0 else None
    assert previous is not None, "the seed syncs each cable once"
    records = []
    meter = 100_000
    for start, wh in sessions:
        seq += 1
        begin = int(start.timestamp())
        record = Record(seq, begin, begin + 3 * 3600, wh, meter, meter + wh, 11_000)
        meter += wh
        previous = link(previous, record)
        records.append(record)
    head_sig = sign_head(Head(serial, epoch, seq, previous), fleet.device_keys[serial])
    ingest.upload_sessions(
        db,
        actor,
        serial,
        SessionsUpload(
            epoch=epoch, records=[r.to_wire() for r in records], head_sig=_b64(head_sig)
        ),
        now=sessions[-1][0] + dt.timedelta(hours=4),
    )


def build(directory: Path, *, now: dt.datetime = NOW) -> Fleet:
    """Create keys, database and the fleet under ``directory``; return what tests need."""
    keys_dir = directory / "keys"
    init_keys(keys_dir, now - dt.timedelta(days=400))
    db_url = f"sqlite:///{directory / 'cloud.db'}"
    migrate(db_url)
    fleet = Fleet(db_url=db_url, keys_dir=keys_dir, now=now)
    engine = make_engine(db_url)
    early = now - dt.timedelta(days=200)
    with make_sessionmaker(engine)() as db:
        accounts.create_org(db, ORG_A, now=early)
        accounts.create_org(db, ORG_B, now=early)
        for email, name, role, org in [
            (FM_A, "Frieda Flotte", "fleet_manager", ORG_A),
            (FM_B, "Gustav Garage", "fleet_manager", ORG_B),
            (SUPPORT, "Sam Support", "support", None),
            *((email, name, "driver", ORG_A) for name, email in DRIVERS_A),
            (DRIVER_B[1], DRIVER_B[0], "driver", ORG_B),
        ]:
            accounts.create_user(
                db, email=email, name=name, role=role, org_name=org, password=PASSWORD, now=early
            )
        for i in range(1, 13):
            serial = f"CBL-{1000 + i:08d}"
            _register(db, fleet, serial, ORG_A, early)
            fleet.serials_a.append(serial)
        serial_b = "CBL-00002001"
        _register(db, fleet, serial_b, ORG_B, early)
        fleet.serials_b.append(serial_b)

        fm_a = _actor(db, FM_A)
        # Cables 1-4 to drivers, 5-12 in the pool; some reported on PIN 0000.
        for index, (_name, email) in enumerate(DRIVERS_A):
            cables.assign(db, fm_a, fleet.serials_a[index], email, now=early)
        cables.assign(db, _actor(db, FM_B), serial_b, DRIVER_B[1], now=early)

        anna_cable = fleet.serials_a[0]
        months = [now - dt.timedelta(days=30 * k + 28) for k in range(6, -1, -1)]
        _connect(db, fleet, DRIVERS_A[0][1], anna_cable, pin_default=False, when=months[0])
        _sync(
            db,
            fleet,
            DRIVERS_A[0][1],
            anna_cable,
            [
                (m + dt.timedelta(days=d), 18_000 + 1_500 * d + 700 * k)
                for k, m in enumerate(months)
                for d in range(0, 25, 6)
            ],
        )
        _connect(
            db,
            fleet,
            DRIVERS_A[0][1],
            anna_cable,
            pin_default=False,
            when=now - dt.timedelta(days=2),
        )
        # Ben's cable: still on 0000, last seen recently, never synced.
        _connect(
            db,
            fleet,
            DRIVERS_A[1][1],
            fleet.serials_a[1],
            pin_default=True,
            when=now - dt.timedelta(days=1),
        )
        # Clara's cable: on 0000 and silent for a month (stale).
        _connect(
            db,
            fleet,
            DRIVERS_A[2][1],
            fleet.serials_a[2],
            pin_default=True,
            when=now - dt.timedelta(days=31),
        )
        _sync(
            db, fleet, DRIVERS_A[2][1], fleet.serials_a[2], [(now - dt.timedelta(days=32), 21_500)]
        )
        # David's cable: changed PIN, synced a week ago.
        _connect(
            db,
            fleet,
            DRIVERS_A[3][1],
            fleet.serials_a[3],
            pin_default=False,
            when=now - dt.timedelta(days=7),
        )
        _sync(db, fleet, DRIVERS_A[3][1], fleet.serials_a[3], [(now - dt.timedelta(days=8), 9_800)])
    engine.dispose()
    return fleet
