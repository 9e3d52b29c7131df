"""A batch of session records on the link, delta-coded (the ``read`` answer's ``batch``).

Rules kept here:

* A batch is one flat CBOR array of integers. The first record takes seven:
  ``seq, start, end - start, wh, meter_start_wh, meter_end_wh - meter_start_wh - wh,
  max_w``; every following record six, each relative to the record before it:
  ``start - previous end, end - start, wh, meter_start_wh - previous meter_end_wh,
  meter_end_wh - meter_start_wh - wh, max_w - previous max_w``. Its ``seq`` is
  the previous one plus 1 (a read batch is a run of the chain). An empty batch
  is ``[]``.
* Why: a record as an array of seven absolute integers costs about 30 bytes
  (timestamps and meter readings of five bytes each). Relative to its
  predecessor, the meter continues (0), ``meter_end`` is ``meter_start + wh``
  (0), the charger's power repeats (0): each a one-byte CBOR integer, so a
  session costs about 12 bytes (``docs/benchmarks.md``, B1). Differences may
  be negative (CBOR has negative integers), so any valid record fits.
* What is decoded is exactly what was encoded: decoding checks every record
  with ``Record.from_wire`` and raises only ``MessageError`` on anything else
  (wrong length, a non-integer, a value out of range, too many records).
* The chain hash is still over each record's canonical CBOR array
  (``chain.py``); this coding is for the link only, the cloud sees records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from cablepin.protocol.chain import Record
from cablepin.protocol.errors import MessageError
from cablepin.protocol.messages import (
    BATCH_FIRST_SIZE,
    BATCH_NEXT_SIZE,
    MAX_BATCH_INTS,
    MAX_READ_LIMIT,
)

__all__ = ["FIRST_SIZE", "MAX_BATCH_INTS", "NEXT_SIZE", "pack_records", "unpack_records"]

FIRST_SIZE: Final = BATCH_FIRST_SIZE
NEXT_SIZE: Final = BATCH_NEXT_SIZE


def pack_records(records: Sequence[Record]) -> list[int]:
    """The batch of ``records`` (consecutive seqs) as the flat delta-coded array."""
    if len(records) > MAX_READ_LIMIT:
        raise MessageError(f"a batch holds at most {MAX_READ_LIMIT} records")
    out: list[int] = []
    previous: Record | None = None
    for r in records:
        extra = r.meter_end_wh - r.meter_start_wh - r.wh
        if previous is None:
            out += [r.seq, r.start, r.end - r.start, r.wh, r.meter_start_wh, extra, r.max_w]
        else:
            if r.seq != previous.seq + 1:
                raise MessageError(f"record {r.seq} does not follow {previous.seq} in a batch")
            out += [
                r.start - previous.end,
                r.end - r.start,
                r.wh,
                r.meter_start_wh - previous.meter_end_wh,
                extra,
                r.max_w - previous.max_w,
            ]
        previous = r
    return out


def unpack_records(value: Any) -> list[Record]:
    """The records of a batch; raises ``MessageError`` unless it is a well-formed batch."""
    if not isinstance(value, list):
        raise MessageError("a batch must be an array of integers")
    if len(value) > MAX_BATCH_INTS:
        raise MessageError(f"a batch holds at most {MAX_READ_LIMIT} records")
    if value and (len(value) < FIRST_SIZE or (len(value) - FIRST_SIZE) % NEXT_SIZE):
        raise MessageError("a batch's length does not fit whole records")
    for item in value:
        if not isinstance(item, int) or isinstance(item, bool):
            raise MessageError("a batch holds only integers")
    records: list[Record] = []
    if not value:
        return records
    seq, start, duration, wh, meter_start, extra, max_w = value[:FIRST_SIZE]
    previous = _record(seq, start, duration, wh, meter_start, extra, max_w)
    records.append(previous)
    for i in range(FIRST_SIZE, len(value), NEXT_SIZE):
        gap, duration, wh, meter_gap, extra, power_change = value[i : i + NEXT_SIZE]
        previous = _record(
            previous.seq + 1,
            previous.end + gap,
            duration,
            wh,
            previous.meter_end_wh + meter_gap,
            extra,
            previous.max_w + power_change,
        )
        records.append(previous)
    return records


def _record(
    seq: int, start: int, duration: int, wh: int, meter_start: int, extra: int, max_w: int
) -> Record:
    return Record.from_wire(
        [seq, start, start + duration, wh, meter_start, meter_start + wh + extra, max_w]
    )
