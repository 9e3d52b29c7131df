"""The audit chain (R2): how a link is hashed and how a chain is checked.

Rules kept here:

* Each event is hashed over its predecessor's hash and its canonical content
  (sorted-key JSON of every field but the hashes): change, drop or reorder a
  row and every later link stops verifying.
* The chain starts from ``GENESIS`` (64 zeros) and ``seq`` counts from 1 without gaps.
* The hashed content names a person only by a pseudonym: ``actor_id``, and
  ``user:ID`` (``person_ref``) in ``target`` and in ``details`` values. E-mail
  addresses and names are kept beside the chain (table ``audit_people``) and
  joined in for display, so erasing a person (D2) deletes them without
  changing a hashed byte, and the chain still verifies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "GENESIS",
    "AuditContent",
    "Broken",
    "canonical_details",
    "event_hash",
    "find_break",
    "parse_ref",
    "person_ref",
]

GENESIS: Final = "0" * 64

_REF = re.compile(r"user:([1-9][0-9]{0,17})", re.ASCII)


def person_ref(user_id: int) -> str:
    """How the hashed content names a person: a stable id, never their e-mail or name."""
    return f"user:{user_id}"


def parse_ref(value: object) -> int | None:
    """The user id a ``person_ref`` names, or None for any other value."""
    if isinstance(value, str) and (match := _REF.fullmatch(value)):
        return int(match.group(1))
    return None


@dataclass(frozen=True)
class AuditContent:
    seq: int
    at: dt.datetime
    actor_id: int | None
    actor_role: str | None
    org_id: int | None
    action: str
    target: str | None
    reason: str | None
    details: str  # canonical JSON

    def canonical(self) -> bytes:
        fields: dict[str, Any] = {
            "seq": self.seq,
            "at": self.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor_id": self.actor_id,
            "actor_role": self.actor_role,
            "org_id": self.org_id,
            "action": self.action,
            "target": self.target,
            "reason": self.reason,
            "details": self.details,
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def canonical_details(details: dict[str, Any]) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":"), default=str)


def event_hash(prev_hash: str, content: AuditContent) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + content.canonical()).hexdigest()


@dataclass(frozen=True)
class Broken:
    seq: int
    why: str


def find_break(
    rows: Iterable[tuple[AuditContent, str, str]], head: tuple[int, str] | None = None
) -> Broken | None:
    """First broken link among ``(content, prev_hash, hash)`` in seq order, or None."""
    expected_prev, expected_seq = GENESIS, 1
    for content, prev_hash, own_hash in rows:
        if content.seq != expected_seq:
            return Broken(expected_seq, f"event {expected_seq} is missing")
        if prev_hash != expected_prev:
            return Broken(content.seq, "its prev_hash does not match the event before it")
        if event_hash(prev_hash, content) != own_hash:
            return Broken(content.seq, "its content does not match its hash (altered)")
        expected_prev, expected_seq = own_hash, expected_seq + 1
    if head is not None and head != (expected_seq - 1, expected_prev):
        return Broken(expected_seq, "events after this one were removed (the head is further on)")
    return None
