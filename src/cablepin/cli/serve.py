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
        log_level="warning",
    )
