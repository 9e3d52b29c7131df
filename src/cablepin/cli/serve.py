"""`cablepin serve`: migrate the database, then run the cloud service with uvicorn.

Unless ``CABLEPIN_MAIL_SENDER=worker``, this process also sends the outbox's mail
in a thread (``cloud/sender.py``), once ``CABLEPIN_SMTP_HOST`` is set; without a
mail server, mail waits in the outbox.

Logs are JSON lines on stderr (``cablepin.cloud.observability.LOG_CONFIG``). Every
worker writes its metrics to ``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary
directory, removed at exit, unless the caller names one, which is emptied first),
so ``/metrics`` from any worker shows the sum over all of them.

Links in mail (invitations) start with ``CABLEPIN_PUBLIC_URL``. When it is not
set, ``serve`` uses ``http://HOST:PORT``, which is right on one machine but not
behind a proxy or with ``--host 0.0.0.0``; so when a mail server is configured
(or the host is a wildcard address) and the public URL is not, ``serve`` warns
on stderr at start-up and goes on (a refusal would break a quick local try-out;
the portal also shows the invitation link, so a wrong base is seen at once).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cablepin.cli.output import emit, reporting

if TYPE_CHECKING:
    from cablepin.cloud.settings import Settings


def serve(
    db: Annotated[str | None, typer.Option("--db", help="database URL (CABLEPIN_DB)")] = None,
    keys: Annotated[
        Path | None, typer.Option("--keys", help="keys directory (CABLEPIN_KEYS)")
    ] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1)] = 1,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            help="base of the links the cloud hands out (CABLEPIN_PUBLIC_URL); "
            "default http://HOST:PORT",
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="proxies whose X-Forwarded-For/-Proto are believed, comma separated, or '*' "
            "(CABLEPIN_FORWARDED_ALLOW_IPS; default 127.0.0.1,::1)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Run the cloud service (API and portal)."""
    # Before anything imports prometheus_client, which picks its storage at import.
    metrics_dir, own_dir = _metrics_directory()
    # Imported here so that other `cablepin` commands start without loading the cloud.
    import uvicorn

    from cablepin.cloud.db import migrate
    from cablepin.cloud.keys import load_keys
    from cablepin.cloud.observability import LOG_CONFIG, mark_worker_gone
    from cablepin.cloud.retention_job import start as start_retention
    from cablepin.cloud.settings import Settings

    with reporting(as_json=as_json):
        # The workers build their app from the environment (uvicorn factory), so put the
        # options there; then every worker and this process agree on the settings.
        if db is not None:
            os.environ["CABLEPIN_DB"] = db
        if keys is not None:
            os.environ["CABLEPIN_KEYS"] = str(keys.resolve())
        guessed = public_url is None and not os.environ.get("CABLEPIN_PUBLIC_URL")
        if public_url is not None:
            os.environ["CABLEPIN_PUBLIC_URL"] = public_url
        elif guessed:
            os.environ["CABLEPIN_PUBLIC_URL"] = f"http://{host}:{port}"
        if forwarded_allow_ips is not None:
            os.environ["CABLEPIN_FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
        settings = Settings()
        warning = public_url_warning(settings, host=host, guessed=guessed)
        if warning is not None:
            typer.echo(warning, err=True)
        load_keys(settings.keys)  # fail now, with the reason, rather than in every worker
        migrate(settings.db_url())
        retention = start_retention(settings)  # D2: first pass now, then periodically
        emit(
            {"url": f"http://{host}:{port}", "workers": workers},
            as_json=as_json,
            text=f"cablepin cloud on http://{host}:{port}",
        )
    stop_sender = _start_sender(settings)
    try:
        uvicorn.run(
            "cablepin.cloud.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            log_level="warning",
            log_config=LOG_CONFIG,
            access_log=False,  # it would log raw paths and queries; Observe logs templates
        )
    finally:
        if stop_sender is not None:
            stop_sender.set()
        if retention is not None:
            retention.set()
        mark_worker_gone()  # this process's own (zero) gauges, when it ran no worker
        if own_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")  # noqa: S104 (names, not a bind)


def public_url_warning(settings: Settings, *, host: str, guessed: bool) -> str | None:
    """What to tell the operator when mail links would start with a guessed base."""
    if not guessed or not (settings.smtp_host or host in WILDCARD_HOSTS):
        return None
    return (
        f"warning: CABLEPIN_PUBLIC_URL is not set, so links in e-mails (invitations) start "
        f"with {settings.public_url}, which people elsewhere may not reach; set "
        "CABLEPIN_PUBLIC_URL (or --public-url) to the address people open, "
        "e.g. https://cablepin.example.com"
    )


def _start_sender(settings: Settings) -> threading.Event | None:
    """The outbox's sender as a thread of this process, when this process is the sender."""
    from cablepin.cloud.db import make_engine, make_sessionmaker
    from cablepin.cloud.sender import start_in_thread

    if settings.mail_sender != "serve" or not settings.smtp_host:
        return None
    return start_in_thread(make_sessionmaker(make_engine(settings.db_url())), settings)


def _metrics_directory() -> tuple[Path, bool]:
    """The multiprocess metrics directory (the caller's, emptied, or a new one we remove)."""
    named = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if named:
        directory = Path(named)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):  # a previous run's counters would add up
            stale.unlink()
        return directory, False
    directory = Path(tempfile.mkdtemp(prefix="cablepin-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return directory, True
