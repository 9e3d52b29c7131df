"""`python -m soak` (`make soak`): the load test with faults, for ``SOAK_SECONDS`` (default 300).

Prints the figures and writes them to ``docs/soak.md`` with the command and the
machine. ``SOAK_CABLES``, ``SOAK_DRIVERS``, ``SOAK_WORKERS`` and ``SOAK_SEED``
change the fleet. Exit code 1 if anything was lost, doubled or misattributed.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from pathlib import Path

from soak.fleet import pg_problem
from soak.harness import Config, run

REPORT = Path(__file__).resolve().parent.parent / "docs" / "soak.md"


def machine() -> str:
    cpus = os.cpu_count() or 0
    try:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return (
        f"{platform.machine()}, {cpus} CPU core(s), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, load average at the end {load}"
    )


def main() -> int:
    problem = pg_problem()
    if problem is not None:
        print(f"PostgreSQL at 127.0.0.1:5432 is needed: {problem}", file=sys.stderr)
        return 2
    config = Config(
        seconds=float(os.environ.get("SOAK_SECONDS", "300")),
        cables=int(os.environ.get("SOAK_CABLES", "300")),
        drivers=int(os.environ.get("SOAK_DRIVERS", "30")),
        workers=int(os.environ.get("SOAK_WORKERS", "8")),
        seed=int(os.environ.get("SOAK_SEED", "12")),
    )
    print(f"soak: {config}", file=sys.stderr, flush=True)
    report = run(config)
    lines = report.lines()
    print("\n".join(lines))
    command = (
        f"SOAK_SECONDS={config.seconds:g} SOAK_CABLES={config.cables} "
        f"SOAK_DRIVERS={config.drivers} SOAK_WORKERS={config.workers} SOAK_SEED={config.seed} "
        "make soak"
    )
    REPORT.write_text(
        "# Soak: a load test with faults, in which nothing is lost\n\n"
        "Written by `make soak` (`python -m soak`, harness in `soak/`; the bounded version "
        "is `tests/e2e/test_soak.py` in `make test`). What it does and checks: "
        "`soak/harness.py`.\n\n"
        f"- command: `{command}`\n"
        f"- machine: {machine()}\n"
        f"- run: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{'CLEAN' if report.clean else 'FAILED'}\n\n"
        "```\n" + "\n".join(lines) + "\n```\n"
    )
    print(f"wrote {REPORT}", file=sys.stderr)
    return 0 if report.clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
