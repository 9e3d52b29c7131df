"""`cablepin serve`: migrate the database, then run the cloud service with uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cablepin.cli.output import emit, reporting


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
    # Imported here so that other `cablepin` commands start without loading the cloud.
    import uvicorn

    from cablepin.cloud.db import migrate
    from cablepin.cloud.keys import load_keys
    from cablepin.cloud.settings import Settings

    with reporting(as_json=as_json):
        # The workers build their app from the environment (uvicorn factory), so put the
        # options there; then every worker and this process agree on the settings.
        if db is not None:
            os.environ["CABLEPIN_DB"] = db
        if keys is not None:
            os.environ["CABLEPIN_KEYS"] = str(keys.resolve())
        if public_url is not None:
            os.environ["CABLEPIN_PUBLIC_URL"] = public_url
        elif "CABLEPIN_PUBLIC_URL" not in os.environ:
            os.environ["CABLEPIN_PUBLIC_URL"] = f"http://{host}:{port}"
        if forwarded_allow_ips is not None:
            os.environ["CABLEPIN_FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
        settings = Settings()
        load_keys(settings.keys)  # fail now, with the reason, rather than in every worker
        migrate(settings.db_url())
        emit(
            {"url": f"http://{host}:{port}", "workers": workers},
            as_json=as_json,
            text=f"cablepin cloud on http://{host}:{port}",
        )
    uvicorn.run(
        "cablepin.cloud.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level="warning",
    )
