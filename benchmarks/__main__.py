"""`python -m benchmarks [NAME ...]`: run the benchmarks, rewrite docs/benchmarks.md."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from benchmarks.common import Section, write_report

BENCHMARKS = ["link_size", "ingest", "portal_scale", "cable_log"]
REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def main(argv: list[str]) -> int:
    names = argv or BENCHMARKS
    sections: list[Section] = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        section = importlib.import_module(f"benchmarks.{name}").run()
        for figure in section.figures:
            print(f"  {figure.name}: {figure.value} {figure.target}", file=sys.stderr)
        sections.append(section)
    if argv:
        print("(a subset was run; docs/benchmarks.md left as it is)", file=sys.stderr)
        return 0
    write_report(sections, REPORT)
    print(f"wrote {REPORT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
