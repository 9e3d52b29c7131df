"""Which roles may call which ``/api/v1`` route (R1, S3).

Rules kept here:

* The table below is the whole policy: a route of the API that is not in it
  is refused at start-up (``check_complete``) and fails the authorisation
  matrix test.
* A role outside a route's set gets 403 ``forbidden``; organisation checks
  come after, in the services, and answer 404 ``unknown_cable`` for another
  organisation's cable so serials cannot be probed.
* ``PUBLIC`` routes need no token.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import Forbidden

__all__ = ["ANY_ROLE", "FLEET", "POLICY", "PUBLIC", "check_complete", "check_role", "rule_for"]

PUBLIC: Final[frozenset[Role]] = frozenset()
ANY_ROLE: Final = frozenset(Role)
FLEET: Final = frozenset({Role.FLEET_MANAGER, Role.SUPPORT})
DRIVER: Final = frozenset({Role.DRIVER})
SUPPORT: Final = frozenset({Role.SUPPORT})
MANAGER: Final = frozenset({Role.FLEET_MANAGER})

CABLE = "/api/v1/cables/{serial}"
APP = "/api/v1/app/cables/{serial}"

POLICY: Final[dict[tuple[str, str], frozenset[Role]]] = {
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("GET", "/api/v1/factory-ca"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): ANY_ROLE,
    ("GET", "/api/v1/me"): ANY_ROLE,
    ("GET", "/api/v1/sessions"): ANY_ROLE,
    ("GET", "/api/v1/audit"): FLEET,
    ("GET", "/api/v1/cables"): FLEET,
    ("GET", CABLE): FLEET,
    ("PUT", f"{CABLE}/assignment"): FLEET,
    ("POST", f"{CABLE}/pin-reset"): FLEET,
    ("DELETE", f"{CABLE}/pin-reset"): FLEET,
    ("POST", f"{CABLE}/handover"): FLEET,
    ("DELETE", f"{CABLE}/handover"): FLEET,
    ("POST", f"{CABLE}/reset"): SUPPORT,
    ("GET", f"{APP}/challenge"): DRIVER,
    ("POST", f"{APP}/connect"): DRIVER,
    ("POST", f"{APP}/receipts"): DRIVER,
    ("POST", f"{APP}/release"): DRIVER,
    ("POST", f"{APP}/sessions"): DRIVER,
    # Reimbursement (M1-M6): drivers see only their own, fleet managers their organisation's.
    ("PUT", "/api/v1/billing/policy/{year}"): MANAGER,
    ("GET", "/api/v1/billing/policy/{year}"): frozenset({Role.FLEET_MANAGER, Role.DRIVER}),
    ("PUT", "/api/v1/billing/flat-prices/{year}"): SUPPORT,
    ("POST", "/api/v1/me/tariffs"): DRIVER,
    ("GET", "/api/v1/me/tariffs"): DRIVER,
    ("GET", "/api/v1/tariffs"): MANAGER,
    ("GET", "/api/v1/tariffs/{id}/document"): frozenset({Role.FLEET_MANAGER, Role.DRIVER}),
    ("POST", "/api/v1/tariffs/{id}/verify"): MANAGER,
    ("POST", "/api/v1/tariffs/{id}/reject"): MANAGER,
    ("GET", "/api/v1/me/months/{month}"): DRIVER,
    ("POST", "/api/v1/me/receipts"): DRIVER,
    ("GET", "/api/v1/me/receipts"): DRIVER,
    ("GET", "/api/v1/receipts"): FLEET,
    ("POST", "/api/v1/receipts/{id}/approve"): MANAGER,
    ("POST", "/api/v1/receipts/{id}/reject"): MANAGER,
    ("GET", "/api/v1/receipts/{id}/evidence"): ANY_ROLE,
    ("GET", "/api/v1/receipts/{id}/pdf"): frozenset({Role.FLEET_MANAGER, Role.DRIVER}),
    # A driver's data (D1, D2): their own export; a fleet manager's for a driver of theirs.
    ("GET", "/api/v1/me/export"): DRIVER,
    ("GET", "/api/v1/drivers/{email}/export"): MANAGER,
    ("DELETE", "/api/v1/drivers/{email}"): MANAGER,
    # Money out (M4): a driver's own bank details; the month's payroll file and transfers.
    ("PUT", "/api/v1/me/bank"): DRIVER,
    ("GET", "/api/v1/me/bank"): DRIVER,
    ("PUT", "/api/v1/drivers/{email}/payroll"): MANAGER,
    ("GET", "/api/v1/billing/{month}/payouts"): MANAGER,
    ("GET", "/api/v1/billing/{month}/payroll.csv"): MANAGER,
    ("GET", "/api/v1/billing/{month}/sepa.xml"): MANAGER,
    ("GET", "/api/v1/billing/payment-runs/{id}/sepa.xml"): MANAGER,
}


def rule_for(method: str, path: str) -> frozenset[Role]:
    try:
        return POLICY[(method, path)]
    except KeyError:
        raise LookupError(f"no policy for {method} {path}; add it to domain/policy.py") from None


def check_role(allowed: frozenset[Role], actor: Actor) -> None:
    if actor.role not in allowed:
        roles = ", ".join(sorted(allowed)) or "nobody"
        raise Forbidden(
            f"a {actor.role} may not do this (allowed: {roles}); "
            "ask your fleet manager or support to do it"
        )


def check_complete(routes: Iterable[tuple[str, str]]) -> None:
    """Fail fast when a route has no rule (a new route must state who may call it)."""
    missing = sorted(f"{m} {p}" for m, p in routes if (m, p) not in POLICY)
    if missing:
        raise LookupError(f"routes without a policy rule: {', '.join(missing)}")
