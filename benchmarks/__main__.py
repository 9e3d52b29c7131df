"""`python -m benchmarks [NAME ...] [--update]`: run the benchmarks, rewrite docs/benchmarks.md.

With names, only those run and the report is left as it is, unless ``--update``
is given: then their sections in the report are replaced and the rest kept.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path

from benchmarks.common import Section, update_report, write_report

BENCHMARKS = ["link_size", "ingest", "connect", "portal_scale", "cable_log"]
REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def main(argv: list[str]) -> int:
    update = "--update" in argv
    argv = [a for a in argv if a != "--update"]
    names = argv or BENCHMARKS
    started, load_before = time.monotonic(), os.getloadavg()[0]
    sections: list[Section] = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        section = importlib.import_module(f"benchmarks.{name}").run()
        for figure in section.figures:
            print(f"  {figure.name}: {figure.value} {figure.target}", file=sys.stderr)
        sections.append(section)
    if argv and update:
        update_report(sections, REPORT)
        print(f"updated {len(sections)} section(s) of {REPORT}", file=sys.stderr)
        return 0
    if argv:
        print("(a subset was run; docs/benchmarks.md left as it is)", file=sys.stderr)
        return 0
    took_s = time.monotonic() - started
    load = f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (1 min)"
    write_report(sections, REPORT, took_s=took_s, load=load)
    print(f"every benchmark in {took_s:.0f} s", file=sys.stderr)
    print(f"wrote {REPORT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
