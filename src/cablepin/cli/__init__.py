"""The ``cablepin`` command line: thin glue over the library packages.

Each sub-command group lives in its own module and only translates between
the terminal and a library call (parse options, call, report). The contract
is DESIGN.md's "Command line"; ``cli/output.py`` holds how results and
errors are printed.
"""

from __future__ import annotations

import typer

from cablepin.cli import admin, app, cable, demo, factory, keys, receipt, serve, worker

__all__ = ["cli", "main"]

cli = typer.Typer(
    name="cablepin",
    help="PIN-protected smart EV charging cable: cable simulator, driver app, cloud and portal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli.add_typer(keys.cli, name="keys")
cli.add_typer(factory.cli, name="factory")
cli.add_typer(cable.cli, name="cable")
cli.add_typer(admin.cli, name="admin")
cli.add_typer(app.cli, name="app")
cli.command("serve")(serve.serve)
cli.command("worker")(worker.worker)
cli.command("demo")(demo.demo)
cli.command("verify-receipt")(receipt.verify_receipt)


def main() -> None:
    cli()
