"""How every CLI command reports: one JSON object with ``--json``, else text.

Contract (DESIGN.md, "Command line"): success prints one JSON object on
stdout with ``--json``; a failure exits non-zero and prints
``{"error": CODE, "message": TEXT, ...}`` with ``--json``, otherwise a
one-line message on stderr that says what to do next.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer

from cablepin.errors import CablepinError

__all__ = ["emit", "fail", "reporting"]

EXIT_FAILURE = 1


def emit(result: dict[str, Any], *, as_json: bool, text: str | Callable[[], str] = "") -> None:
    if as_json:
        sys.stdout.write(json.dumps(result, default=str, sort_keys=True) + "\n")
        sys.stdout.flush()
        return
    message = text() if callable(text) else text
    if message:
        typer.echo(message)


def fail(error: CablepinError, *, as_json: bool) -> NoReturn:
    if as_json:
        sys.stdout.write(json.dumps(error.to_dict(), default=str, sort_keys=True) + "\n")
        sys.stdout.flush()
    else:
        typer.echo(f"error: {error.message}", err=True)
    raise typer.Exit(EXIT_FAILURE)


@contextmanager
def reporting(*, as_json: bool) -> Iterator[None]:
    """Turn any ``CablepinError`` raised inside into the CLI's failure form."""
    try:
        yield
    except CablepinError as error:
        fail(error, as_json=as_json)
