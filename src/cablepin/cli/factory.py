"""`cablepin factory ...`: make a new cable."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from cablepin.cable.provision import provision as provision_cable
from cablepin.cli.output import emit, reporting

cli = typer.Typer(no_args_is_help=True, help="The factory: provision new cables.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@cli.command("provision")
def provision(
    serial: Annotated[str, typer.Option("--serial", help="Cable serial, e.g. CBL-00012345.")],
    keys: Annotated[Path, typer.Option("--keys", help="Deployment key directory.")],
    state: Annotated[Path, typer.Option("--state", help="New state directory of the cable.")],
    as_json: JsonOption = False,
) -> None:
    """Create a cable: device key and certificate, command key, PIN 0000, epoch 0."""
    with reporting(as_json=as_json):
        identity = provision_cable(serial, keys, state, dt.datetime.now(dt.UTC))
        emit(
            {
                "serial": identity.serial,
                "state": str(state),
                "certificate": str(state / "device.pem"),
                "epoch": 0,
                "pin_default": True,
            },
            as_json=as_json,
            text=f"provisioned cable {identity.serial} in {state} (PIN 0000)",
        )
