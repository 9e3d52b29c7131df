"""Support's reads across organisations: only with a reason, always audited (R1).

Support sees every organisation, but not silently: reading a cable's detail,
the cable list or the audit log needs a reason (``permissions.require_reason``,
else 403 ``reason_required``) and writes one ``support.<what>_read`` event
into the log of each organisation whose data the read returned, so its fleet
managers see who looked and why (or one event without an organisation when
nothing matched). ARCHITECTURE.md ("Security decisions") lists the exempt views.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from cablepin.cloud.db import transactional
from cablepin.cloud.domain.actor import Actor
from cablepin.cloud.services import audit

__all__ = ["record"]


@transactional
def record(
    db: Session,
    actor: Actor,
    *,
    now: dt.datetime,
    action: str,
    org_ids: Iterable[int | None],
    target: str | None,
    reason: str | None,
    details: dict[str, Any] | None = None,
    count_key: str = "items",
) -> None:
    """Audit support's read, once per organisation read (a unit of work of its own, or part
    of the request's).

    Does nothing for anyone but support: their reads stay inside their organisation.
    """
    if not actor.is_support:
        return
    counts: Counter[int | None] = Counter(org_ids)
    for org_id in sorted(counts, key=lambda o: o or 0) or [None]:
        audit.append(
            db,
            now=now,
            action=action,
            actor=actor,
            org_id=org_id,
            target=target,
            reason=reason,
            details={**(details or {}), count_key: counts.get(org_id, 0)},
        )
