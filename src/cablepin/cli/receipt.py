"""`cablepin verify-receipt`: check a receipt's evidence bundle offline (M6).

Glue only: read the bundle and the factory CA, call
``cablepin.evidence.verify_bundle``, report. Nothing here talks to the cloud;
the factory CA certificate is the only thing trusted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cablepin.cli.output import emit, reporting
from cablepin.evidence import EvidenceError, verify_bundle

__all__ = ["verify_receipt"]


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise EvidenceError(
            f"cannot read the {what} {path}: {e.strerror}; check the path", ok=False
        ) from e


def verify_receipt(
    bundle: Annotated[Path, typer.Argument(help="the evidence bundle (JSON) of a receipt")],
    factory_ca: Annotated[
        Path, typer.Option("--factory-ca", help="the factory CA certificate (PEM) to trust")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Check a receipt offline: certificates, hash chain, head signatures, lines, amounts."""
    with reporting(as_json=as_json):
        raw = _read(bundle, "bundle")
        ca_pem = _read(factory_ca, "factory CA")
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise EvidenceError(
                f"{bundle} is not JSON; save the body of GET /api/v1/receipts/ID/evidence as it "
                "came",
                ok=False,
            ) from e
        try:
            verified = verify_bundle(data, ca_pem)
        except EvidenceError as e:
            raise EvidenceError(
                f"{e.message}; this receipt does not match what the cable signed", ok=False
            ) from e
        emit(
            {
                "ok": True,
                "receipt_id": verified.receipt_id,
                "total_wh": verified.total_wh,
                "amount": verified.amount,
                "lines": verified.lines,
                "serials": list(verified.serials),
            },
            as_json=as_json,
            text=f"receipt {verified.receipt_id} verified: {verified.lines} sessions of "
            f"{', '.join(verified.serials)}, {verified.total_wh} Wh, {verified.amount} EUR",
        )
