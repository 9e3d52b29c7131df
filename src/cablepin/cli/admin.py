"""`cablepin admin ...`: operator commands against the cloud database.

Thin glue over ``cablepin.cloud.services``; each command migrates the
database first, so a fresh database just works. Support users may be created
without ``--org``: support staff act across organisations.

The cloud (SQLAlchemy, Alembic, FastAPI) is imported inside the command
bodies: every ``cablepin`` start loads this module, and a cable or app
command should not pay a second for a database it never opens.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cablepin.cli.output import emit, reporting
from cablepin.cloud.errors import CloudError, ConfigError, InvalidRequest

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

cli = typer.Typer(no_args_is_help=True, help="Operate the cloud database (orgs, users, cables).")

DbOption = Annotated[
    str | None, typer.Option("--db", help="database URL (default: CABLEPIN_DB or sqlite)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]


class AuditBroken(CloudError):
    code = "audit_broken"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _url(db: str | None) -> str:
    from cablepin.cloud.settings import Settings

    return Settings().db_url() if db is None else Settings(db=db).db_url()


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def _session(db: str | None) -> Iterator[Session]:
    from cablepin.cloud.db import make_engine, make_sessionmaker, migrate

    url = _url(db)
    migrate(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            yield session
    finally:
        engine.dispose()


@cli.command("migrate")
def migrate_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Bring the database to the newest schema."""
    from cablepin.cloud.db import migrate

    with reporting(as_json=as_json):
        url = _url(db)
        migrate(url)
        emit({"migrated": _shown(url)}, as_json=as_json, text=f"{_shown(url)} is up to date")


@cli.command("create-org")
def create_org(name: str, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Create an organisation (a fleet)."""
    from cablepin.cloud.services import accounts

    with reporting(as_json=as_json), _session(db) as session:
        org = accounts.create_org(session, name, now=utc_now())
        emit({"org": org.name, "id": org.id}, as_json=as_json, text=f"created {org.name}")


@cli.command("create-user")
def create_user(
    email: Annotated[str, typer.Option("--email")],
    role: Annotated[str, typer.Option("--role", help="driver | fleet_manager | support")],
    name: Annotated[str, typer.Option("--name")] = "",
    org: Annotated[str | None, typer.Option("--org", help="organisation (not for support)")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a user; without --password-stdin the account has no password yet."""
    from cablepin.cloud.services import accounts

    with reporting(as_json=as_json):
        password = None
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise InvalidRequest("no password on stdin; pipe it in: echo PW | cablepin ...")
        with _session(db) as session:
            user = accounts.create_user(
                session,
                email=email,
                name=name,
                role=role,
                org_name=org,
                password=password,
                now=utc_now(),
            )
            emit(
                {"email": user.email, "role": user.role, "org": org, "id": user.id},
                as_json=as_json,
                text=f"created {user.role} {user.email}",
            )


@cli.command("register-cable")
def register_cable(
    state: Annotated[Path, typer.Option("--state", help="the cable's state directory")],
    org: Annotated[str, typer.Option("--org")],
    keys: Annotated[
        Path | None, typer.Option("--keys", help="keys directory (default: CABLEPIN_KEYS)")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a cable: its certificate (DIR/device.pem) must chain to the factory CA."""
    from cablepin.cloud.keys import load_factory_ca
    from cablepin.cloud.services import cables
    from cablepin.cloud.settings import Settings

    with reporting(as_json=as_json):
        ca = load_factory_ca(keys if keys is not None else Settings().keys)
        try:
            cert_pem = (state / "device.pem").read_bytes()
        except OSError as e:
            raise ConfigError(
                f"cannot read {state / 'device.pem'}: {e.strerror}; "
                "pass the directory made by `cablepin factory provision`"
            ) from e
        with _session(db) as session:
            cable = cables.register_cable(
                session, cert_pem=cert_pem, org_name=org, factory_ca=ca, now=utc_now()
            )
            emit(
                {"serial": cable.serial, "org": cable.org},
                as_json=as_json,
                text=f"registered {cable.serial} to {cable.org}",
            )


CHECKPOINTS_FILE = "audit-checkpoints.jsonl"
KeysOption = Annotated[
    Path | None, typer.Option("--keys", help="keys directory (default: CABLEPIN_KEYS)")
]


def _keys_dir(keys: Path | None) -> Path | None:
    from cablepin.cloud.settings import Settings

    return keys if keys is not None else Settings().keys


@cli.command("verify-audit")
def verify_audit(db: DbOption = None, keys: KeysOption = None, as_json: JsonOption = False) -> None:
    """Check the audit chain, and that it still holds every signed checkpoint."""
    import json

    from cablepin.cloud.keys import load_keys
    from cablepin.cloud.services import audit

    with reporting(as_json=as_json), _session(db) as session:
        checked, broken = audit.verify(session)
        directory = _keys_dir(keys)
        checkpoints: list[dict[str, object]] = []
        if broken is None and directory is not None:
            path = directory / CHECKPOINTS_FILE
            if path.exists():
                lines = path.read_text().splitlines()
                checkpoints = [json.loads(line) for line in lines if line.strip()]
                public = load_keys(directory).command_key.public_key()
                broken = audit.check_checkpoints(session, checkpoints, public)
        if broken is not None:
            raise AuditBroken(
                f"the audit chain is broken at event {broken.seq}: {broken.why}; "
                "restore the database from a backup and investigate",
                broken_at=broken.seq,
                checked=checked,
            )
        emit(
            {"ok": True, "checked": checked, "checkpoints": len(checkpoints)},
            as_json=as_json,
            text=f"{checked} events, chain ok, {len(checkpoints)} signed checkpoints held",
        )


@cli.command("audit-checkpoint")
def audit_checkpoint(
    db: DbOption = None, keys: KeysOption = None, as_json: JsonOption = False
) -> None:
    """Sign the audit chain's head with the command key and keep it with the keys.

    Run it periodically (for example hourly); `verify-audit` then finds any rewrite of
    the chain before the newest checkpoint, even one that recomputed every hash.
    """
    import json
    import os

    from cablepin.cloud.keys import load_keys
    from cablepin.cloud.services import audit

    with reporting(as_json=as_json), _session(db) as session:
        directory = _keys_dir(keys)
        cloud_keys = load_keys(directory)  # names what is missing when there is no keys dir
        assert directory is not None
        checkpoint = audit.sign_checkpoint(session, cloud_keys.command_key, now=utc_now())
        path = directory / CHECKPOINTS_FILE
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as out:
            out.write(json.dumps(checkpoint, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())
        emit(
            {**checkpoint, "file": str(path)},
            as_json=as_json,
            text=f"checkpoint of event {checkpoint['seq']} kept in {path}",
        )


@cli.command("retention")
def retention_cmd(
    db: DbOption = None,
    now: Annotated[
        str | None,
        typer.Option("--now", help="act as if it were this UTC time (ISO 8601); for tests"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Delete erased drivers' receipts whose statutory period has ended (D2), and the
    outbox's expired invitation texts and 90-day-old records of delivered mail.

    The period is CABLEPIN_RETENTION_YEARS (default 8, see docs); `cablepin serve`
    runs the same job every CABLEPIN_RETENTION_INTERVAL_S seconds.
    """
    from cablepin.cloud.services import privacy
    from cablepin.cloud.settings import Settings

    with reporting(as_json=as_json):
        when = utc_now()
        if now is not None:
            try:
                when = dt.datetime.fromisoformat(now)
            except ValueError as e:
                raise InvalidRequest(f"--now {now!r} is not an ISO 8601 time") from e
            if when.tzinfo is None:
                raise InvalidRequest("--now needs a zone, for example 2035-01-01T00:00:00+00:00")
        years = Settings().retention_years
        with _session(db) as session:
            done = privacy.purge_expired(session, now=when, years=years)
        emit(
            {**done, "years": years},
            as_json=as_json,
            text=f"{done['receipts_deleted']} receipts and {done['sessions_deleted']} sessions "
            f"past the {years}-year period deleted",
        )
