"""The evidence bundle of a receipt (M6): its format and its offline verification.

A bundle is one JSON object::

    {"format": "cablepin/v1/receipt-evidence", "zone": "Europe/Berlin",
     "receipt": {"id", "month", "total_wh", "amount", "price_source", ...},
     "lines":   [{"serial", "epoch", "seq", "start", "end", "wh", "price", "price_ref"}],
     "prices":  [{"ref", "price", "valid_from", "valid_to", "source"}],
     "cables":  [{"serial", "certificate": PEM,
                  "chains": [{"epoch", "previous": {"seq", "hash"}, "records": [[7 ints]...],
                              "head": {"seq", "hash"}, "head_sig"}]}]}

(bytes as standard base64, money and prices as decimal strings, dates
``YYYY-MM-DD``, times UTC epoch seconds). ``verify_bundle`` trusts nothing in
it but the factory CA given apart from it:

1. each cable certificate was issued by the factory CA and names its serial;
2. each chain's records continue from ``previous`` (the genesis when it is
   seq 0) and the cable's signature over the recomputed head verifies
   (``protocol.chain.verify_batch``: the one chain rule);
3. every line is one of those signed records (serial, epoch, seq, start,
   end, Wh), and no record is billed twice;
4. every line's price is the one its ``price_ref`` names, valid on the
   session's start day in ``zone``;
5. total Wh and amount follow from the lines by the one money rule
   (``evidence.money.amount_for``).

The first thing that does not match raises ``EvidenceError`` naming it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cablepin.evidence.errors import EvidenceError
from cablepin.evidence.money import amount_for, money_text, parse_money, parse_price
from cablepin.protocol import pki
from cablepin.protocol.chain import Record, genesis, verify_batch
from cablepin.protocol.errors import ChainError, ProtocolError

__all__ = ["BUNDLE_FORMAT", "Verified", "local_day", "verify_bundle"]

BUNDLE_FORMAT: Final = "cablepin/v1/receipt-evidence"


@dataclass(frozen=True)
class Verified:
    receipt_id: int
    total_wh: int
    amount: str
    lines: int
    serials: tuple[str, ...]


def local_day(epoch_s: int, zone: ZoneInfo) -> dt.date:
    """The calendar day a session starts on, where the receipt's rules count days."""
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC).astimezone(zone).date()


def _field(obj: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise EvidenceError(f"the bundle is malformed: {where} has no {key!r}")
    value = obj[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise EvidenceError(f"the bundle is malformed: {where}.{key} must be an integer")
    if not isinstance(value, kind):
        raise EvidenceError(f"the bundle is malformed: {where}.{key} must be a {kind.__name__}")
    return value


def _b64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise EvidenceError(f"the bundle is malformed: {where} is not base64") from e


def _date(text: str, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise EvidenceError(f"the bundle is malformed: {where} is not a date YYYY-MM-DD") from e


Key = tuple[str, int, int]


def _verify_cables(cables: list[Any], factory_ca: Any) -> dict[Key, Record]:
    signed: dict[Key, Record] = {}
    for i, cable in enumerate(cables):
        where = f"cables[{i}]"
        serial = _field(cable, "serial", str, where)
        pem = _field(cable, "certificate", str, where)
        try:
            cert = pki.load_certificate(pem.encode())
            pki.verify_device_certificate(cert, factory_ca, serial)
            device_key = pki.device_public_key(cert)
        except ProtocolError as e:
            raise EvidenceError(
                f"the certificate of {serial} does not verify against the factory CA: {e.message}"
            ) from e
        for j, chain in enumerate(_field(cable, "chains", list, where)):
            cwhere = f"{where}.chains[{j}]"
            epoch = _field(chain, "epoch", int, cwhere)
            previous = _field(chain, "previous", dict, cwhere)
            prev_seq = _field(previous, "seq", int, f"{cwhere}.previous")
            prev_hash = _b64(_field(previous, "hash", str, f"{cwhere}.previous"), cwhere)
            if prev_seq == 0 and prev_hash != genesis(serial, epoch):
                raise EvidenceError(
                    f"the chain of {serial} epoch {epoch} does not start at its genesis hash"
                )
            try:
                records = [Record.from_wire(r) for r in _field(chain, "records", list, cwhere)]
            except ProtocolError as e:
                raise EvidenceError(f"a record of {serial} is malformed: {e.message}") from e
            head = _field(chain, "head", dict, cwhere)
            head_seq = _field(head, "seq", int, f"{cwhere}.head")
            head_hash = _b64(_field(head, "hash", str, f"{cwhere}.head"), f"{cwhere}.head")
            head_sig = _b64(_field(chain, "head_sig", str, cwhere), f"{cwhere}.head_sig")
            try:
                hashes = verify_batch(
                    serial=serial,
                    epoch=epoch,
                    previous=(prev_seq, prev_hash),
                    records=records,
                    head_sig=head_sig,
                    device_key=device_key,
                )
            except ChainError as e:
                reason = e.message.split(";")[0]
                raise EvidenceError(
                    f"the records of {serial} epoch {epoch} do not match the head the cable "
                    f"signed: {reason}"
                ) from e
            if records[-1].seq != head_seq or hashes[-1] != head_hash:
                raise EvidenceError(
                    f"the stated head of {serial} epoch {epoch} is not the one its records give"
                )
            for record in records:
                signed[(serial, epoch, record.seq)] = record
    return signed


@dataclass(frozen=True)
class _Price:
    price: Decimal
    valid_from: dt.date
    valid_to: dt.date


def _prices(prices: list[Any]) -> dict[str, _Price]:
    found: dict[str, _Price] = {}
    for i, entry in enumerate(prices):
        where = f"prices[{i}]"
        ref = _field(entry, "ref", str, where)
        try:
            price = parse_price(_field(entry, "price", str, where))
        except ValueError as e:
            raise EvidenceError(f"the price {ref} is malformed: {e}") from e
        valid_from = _date(_field(entry, "valid_from", str, where), f"{where}.valid_from")
        valid_to = _date(_field(entry, "valid_to", str, where), f"{where}.valid_to")
        if ref in found:
            raise EvidenceError(f"the bundle is malformed: price {ref} is listed twice")
        found[ref] = _Price(price, valid_from, valid_to)
    return found


def verify_bundle(bundle: Any, factory_ca_pem: bytes) -> Verified:
    """Check ``bundle`` against the factory CA alone; raise ``EvidenceError`` on a mismatch."""
    if _field(bundle, "format", str, "the bundle") != BUNDLE_FORMAT:
        raise EvidenceError(f"this is not a receipt evidence bundle (format {BUNDLE_FORMAT})")
    try:
        factory_ca = pki.load_certificate(factory_ca_pem)
    except ProtocolError as e:
        raise EvidenceError(f"the factory CA is not a PEM certificate: {e.message}") from e
    try:
        zone = ZoneInfo(_field(bundle, "zone", str, "the bundle"))
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise EvidenceError("the bundle names a time zone this machine does not know") from e
    receipt = _field(bundle, "receipt", dict, "the bundle")
    receipt_id = _field(receipt, "id", int, "receipt")
    signed = _verify_cables(_field(bundle, "cables", list, "the bundle"), factory_ca)
    prices = _prices(_field(bundle, "prices", list, "the bundle"))
    billed: set[Key] = set()
    lines: list[tuple[int, Decimal]] = []
    for i, line in enumerate(_field(bundle, "lines", list, "the bundle")):
        where = f"lines[{i}]"
        key = (
            _field(line, "serial", str, where),
            _field(line, "epoch", int, where),
            _field(line, "seq", int, where),
        )
        name = f"session {key[2]} of {key[0]} (epoch {key[1]})"
        record = signed.get(key)
        if record is None:
            raise EvidenceError(f"{name} is on the receipt but not among the signed records")
        if key in billed:
            raise EvidenceError(f"{name} is on the receipt twice")
        billed.add(key)
        for attr in ("wh", "start", "end"):
            stated = _field(line, attr, int, where)
            if stated != getattr(record, attr):
                raise EvidenceError(
                    f"{name}: the receipt says {attr} {stated}, the cable signed "
                    f"{getattr(record, attr)}"
                )
        ref = _field(line, "price_ref", str, where)
        if ref not in prices:
            raise EvidenceError(f"{name} names price {ref}, which the bundle does not hold")
        try:
            price = parse_price(_field(line, "price", str, where))
        except ValueError as e:
            raise EvidenceError(f"{name}: {e}") from e
        if price != prices[ref].price:
            raise EvidenceError(
                f"{name} is priced {price} EUR/kWh, but its source {ref} says "
                f"{prices[ref].price} EUR/kWh"
            )
        day = local_day(record.start, zone)
        if not prices[ref].valid_from <= day <= prices[ref].valid_to:
            raise EvidenceError(
                f"{name} starts on {day}, outside the validity of price {ref} "
                f"({prices[ref].valid_from} to {prices[ref].valid_to})"
            )
        lines.append((record.wh, price))
    if not lines:
        raise EvidenceError("the receipt has no lines")
    total_wh = sum(wh for wh, _ in lines)
    stated_wh = _field(receipt, "total_wh", int, "receipt")
    if stated_wh != total_wh:
        raise EvidenceError(
            f"the receipt says {stated_wh} Wh, its signed lines add up to {total_wh}"
        )
    try:
        stated_amount = parse_money(_field(receipt, "amount", str, "receipt"))
    except ValueError as e:
        raise EvidenceError(f"the receipt's amount is malformed: {e}") from e
    amount = amount_for(lines)
    if stated_amount != amount:
        raise EvidenceError(
            f"the receipt says {money_text(stated_amount)} EUR, its lines come to "
            f"{money_text(amount)} EUR"
        )
    return Verified(
        receipt_id=receipt_id,
        total_wh=total_wh,
        amount=money_text(amount),
        lines=len(lines),
        serials=tuple(sorted({key[0] for key in billed})),
    )
