"""`cablepin demo`: the whole system on one machine (glue over ``cablepin.demo``)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from cablepin.cli.output import emit, reporting
from cablepin.demo import DEFAULT_SPEC, DemoError, banner, cables_now, demo_running
from cablepin.errors import CablepinError


class _Stop(Exception):
    pass


def _raise_stop(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="The demo folder (reused when complete).")
    ] = Path("demo-state"),
    port: Annotated[int, typer.Option("--port", help="Port of the cloud (API + portal).")] = 8000,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Delete the demo folder and build it again.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Seed an organisation, a fleet manager, two drivers, support and three cables; run the
    cloud and the simulated cables; print URLs and logins; Ctrl-C stops everything."""
    signal.signal(signal.SIGTERM, _raise_stop)
    with reporting(as_json=as_json):
        try:
            with demo_running(directory.resolve(), port=port, host=host, fresh=fresh) as (
                running,
                layout,
                how,
            ):
                try:
                    now = cables_now(running.url, DEFAULT_SPEC)
                except CablepinError:  # e.g. the fleet manager's password was changed
                    now = None
                emit(
                    {
                        "dir": str(layout.root),
                        "folder": how,
                        "url": running.url,
                        "radio": str(layout.radio),
                        "mail": str(layout.mail),
                        "cables": running.addresses,
                        "drivers": {s: c.driver for s, c in (now or {}).items()},
                    },
                    as_json=as_json,
                    text=lambda: banner(running, layout, how, now=now),
                )
                while True:
                    dead = running.dead()
                    if dead:
                        raise DemoError(
                            f"{', '.join(dead)} stopped unexpectedly; stopping the demo "
                            f"(see {layout.root / 'cloud.log'}); run `cablepin demo` again"
                        )
                    time.sleep(0.5)
        except (KeyboardInterrupt, _Stop):
            if not as_json:
                typer.echo("\nstopped the cloud and the cables.", err=True)
