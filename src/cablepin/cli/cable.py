"""`cablepin cable ...`: run a simulated cable, charge with it, look at it."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from cablepin.cable.errors import InvalidAddress
from cablepin.cable.firmware import Charge, lockout
from cablepin.cable.provision import DEVICE_CERT, DEVICE_KEY, open_cable
from cablepin.cable.simulator import CableServer, Limits, simulated_clock
from cablepin.cli.output import emit, reporting
from cablepin.protocol.tls import cable_tls_context

cli = typer.Typer(no_args_is_help=True, help="The simulated cable.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
StateOption = Annotated[Path, typer.Option("--state", help="The cable's state directory.")]
DEFAULT_SESSION_S = 3600


def _split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise InvalidAddress(f"--listen {listen!r}: write it as HOST:PORT, e.g. 127.0.0.1:0")
    return host.strip("[]") or "127.0.0.1", int(port)


@cli.command("run")
def run(
    state: StateOption,
    listen: Annotated[str, typer.Option("--listen", help="HOST:PORT (port 0: any).")] = (
        "127.0.0.1:0"
    ),
    link_rate: Annotated[
        int | None,
        typer.Option("--link-rate", min=1, help="Throttle the link to N bytes/s (BLE: ~20000)."),
    ] = None,
    max_connections: Annotated[
        int,
        typer.Option("--max-connections", min=1, help="Connections at once (BLE: one or two)."),
    ] = Limits.max_connections,
    handshake_timeout: Annotated[
        float,
        typer.Option("--handshake-timeout", min=0.1, help="Seconds for the whole TLS handshake."),
    ] = Limits.handshake_s,
    request_timeout: Annotated[
        float,
        typer.Option("--request-timeout", min=0.1, help="Seconds for one request, first byte on."),
    ] = Limits.request_s,
    idle_timeout: Annotated[
        float,
        typer.Option(
            "--idle-timeout", min=0.1, help="Seconds a connection may idle between requests."
        ),
    ] = Limits.idle_s,
    as_json: JsonOption = False,
) -> None:
    """Serve the cable on a local link and advertise it, until SIGTERM or Ctrl-C."""
    with reporting(as_json=as_json):
        host, port = _split_listen(listen)
        cable = open_cable(state)
        tls = cable_tls_context(state / DEVICE_CERT, state / DEVICE_KEY)
        limits = Limits(max_connections, handshake_timeout, request_timeout, idle_timeout)
        server = CableServer(
            cable,
            tls,
            host=host,
            port=port,
            link_rate=link_rate,
            clock=simulated_clock(),
            limits=limits,
        )

        def stop(_signum: int, _frame: FrameType | None) -> None:
            server.close()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            emit(
                {"serial": cable.serial, "address": server.address},
                as_json=as_json,
                text=f"cable {cable.serial} listening on {server.address} (Ctrl-C stops it)",
            )
            sys.stdout.flush()
            server.serve_forever()
        finally:
            server.close()


@cli.command("charge")
def charge(
    state: StateOption,
    wh: Annotated[int, typer.Option("--wh", min=0, help="Energy per session in Wh.")],
    count: Annotated[int, typer.Option("--count", min=1, help="How many sessions.")] = 1,
    start: Annotated[int | None, typer.Option("--start", help="Start, UTC epoch seconds.")] = None,
    end: Annotated[int | None, typer.Option("--end", help="End, UTC epoch seconds.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Record charging sessions (safe while `cable run` serves the same cable)."""
    with reporting(as_json=as_json):
        cable = open_cable(state)
        now = int(simulated_clock()())
        charges = []
        for i in range(count):
            session_end = end if end is not None else now - (count - 1 - i) * DEFAULT_SESSION_S
            session_start = start if start is not None else session_end - DEFAULT_SESSION_S + 600
            duration = max(session_end - session_start, 1)
            max_w = -(-wh * 3600 // duration)  # at least the average power
            charges.append(Charge(session_start, session_end, wh, max_w))
        records = cable.record_sessions(charges)  # all of them or none, one append
        emit(
            {
                "serial": cable.serial,
                "records": [r.to_wire() for r in records],
                "head_seq": records[-1].seq,
            },
            as_json=as_json,
            text=f"recorded {count} session(s) on {cable.serial}; last seq {records[-1].seq}",
        )


@cli.command("status")
def status(state: StateOption, as_json: JsonOption = False) -> None:
    """Show epoch, sessions, default PIN and lockout (never the PIN or its hash)."""
    with reporting(as_json=as_json):
        cable = open_cable(state)
        current = cable.state()
        wait_s, locked = lockout(current, int(simulated_clock()()))
        result = {
            "serial": cable.serial,
            "epoch": current.epoch,
            "sessions": current.head_seq,
            "head_seq": current.head_seq,
            "pin_default": current.pin_default,
            "failures": current.failures,
            "wait_s": wait_s,
            "locked": locked,
            "bonds": len(current.bonds),
        }
        emit(
            result,
            as_json=as_json,
            text=lambda: (
                f"{cable.serial}: epoch {current.epoch}, {current.head_seq} session(s), "
                f"PIN {'0000 (default)' if current.pin_default else 'set'}, "
                + ("locked" if locked else f"wait {wait_s} s" if wait_s else "no lockout")
            ),
        )
