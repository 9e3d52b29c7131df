"""What every benchmark returns, and how the report is written."""

from __future__ import annotations

import datetime as dt
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Figure", "Section", "update_report", "write_report"]


@dataclass(frozen=True)
class Figure:
    name: str
    value: str
    target: str = ""
    met: bool | None = None

    def row(self) -> str:
        verdict = {True: "met", False: "**missed**", None: ""}[self.met]
        return f"| {self.name} | {self.value} | {self.target} | {verdict} |"


@dataclass
class Section:
    title: str
    command: str
    method: str
    figures: list[Figure] = field(default_factory=list)
    notes: str = ""

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", f"Command: `{self.command}`", "", self.method, ""]
        lines += ["| figure | measured | target | |", "| --- | --- | --- | --- |"]
        lines += [f.row() for f in self.figures]
        if self.notes:
            lines += ["", self.notes]
        return "\n".join(lines) + "\n"


def write_report(sections: list[Section], path: Path, *, took_s: float, load: str) -> None:
    """The whole report; ``took_s`` and ``load`` say how long the run took and how busy
    the machine was (issue 12: `make bench` under 15 minutes on a fresh machine)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    minutes, seconds = divmod(round(took_s), 60)
    head = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m benchmarks`); do not edit by hand.",
        f"Last run: {now} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; every benchmark in {minutes} min {seconds} s "
        f"(target: under 15 min), load average {load}.",
        "",
    ]
    body = "\n".join(s.markdown() for s in sections)
    path.write_text("\n".join(head) + "\n" + _with_summary(body))


def update_report(sections: list[Section], path: Path) -> None:
    """Replace these sections in the report (by title), keep the others; new ones go last.

    For ``python -m benchmarks NAME --update``: one benchmark re-run without
    re-running the rest. The header then says which sections were re-run when.
    """
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    head, *parts = text.split("\n## ")
    blocks = {part.split("\n", 1)[0]: "## " + part for part in parts}
    order = list(blocks)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    for section in sections:
        if section.title not in blocks:
            order.append(section.title)
        blocks[section.title] = section.markdown()
        section_note = f'Section "{section.title}" re-run alone: {now}.'
        head = head.rstrip("\n") + "\n" + section_note + "\n"
    body = "\n".join(blocks[t].rstrip("\n") + "\n" for t in order if t != SUMMARY)
    path.write_text(head.rstrip("\n") + "\n\n" + _with_summary(body))


SUMMARY = "Every figure with a target"


def _with_summary(body: str) -> str:
    """``body`` (the sections) after a table of every figure that has a target.

    Read back from the sections' own tables, so that a section re-run alone
    (``update_report``) updates its rows here too.
    """
    rows = []
    for part in ("\n" + body).split("\n## ")[1:]:
        title, _, text = part.partition("\n")
        for line in text.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) != 4 or cells[0] in ("figure", "---") or not cells[2]:
                continue
            rows.append(f"| {title} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
    summary = [
        f"## {SUMMARY}",
        "",
        "Collected from the sections below (where each was measured, how, and why a "
        "missed one is missed).",
        "",
        "| benchmark | figure | measured | target | |",
        "| --- | --- | --- | --- | --- |",
        *rows,
    ]
    return "\n".join(summary) + "\n\n" + body
