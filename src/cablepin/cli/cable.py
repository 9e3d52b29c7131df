"""`cablepin cable ...` commands."""

from __future__ import annotations

import typer

cli = typer.Typer(no_args_is_help=True, help="cable commands")
