"""`cablepin keys ...`: the deployment's factory CA and cloud command key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from cablepin.cable.provision import init_keys
from cablepin.cli.output import emit, reporting

cli = typer.Typer(no_args_is_help=True, help="Deployment keys (factory CA, cloud command key).")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@cli.command("init")
def init(
    directory: Annotated[Path, typer.Option("--dir", help="Where to write the keys.")],
    as_json: JsonOption = False,
) -> None:
    """Create factory-ca.pem/.key and command.pem/.key (private files 0600; never overwritten)."""
    with reporting(as_json=as_json):
        keys = init_keys(directory, dt.datetime.now(dt.UTC))
        emit(
            {"dir": str(keys.directory), "files": list(keys.files)},
            as_json=as_json,
            text=f"wrote {', '.join(keys.files)} to {keys.directory}",
        )
