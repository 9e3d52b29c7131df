"""One app connection as the cable sees it: which op may run in which state.

Rules kept here:

* A connection is ``UNAUTHENTICATED``, ``AUTHENTICATED`` (bond or PIN) or
  ``ALLOWED`` (an ``allow_pin_set`` was applied here: it may set a PIN
  without the current one, once, and read like an authenticated app).
* ``HANDLERS`` is the table op -> (handler, states in which it may run);
  an op outside its states is refused with ``not_authenticated``.
* Each connection has its own random 16-byte nonce (``hello`` shows it);
  cloud commands must be signed for it, and a command id is applied at most
  once per connection. A signed copy is good only while the connection is
  younger than its lifetime, counted from the connection's first request
  (no one can know the nonce before that).
* A wipe ends the connection's authentication; a PIN change gives it a new bond.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum, auto
from typing import Any, Final

from cablepin.cable.errors import NotAuthenticated, PinRequired
from cablepin.cable.firmware import Cable, Grant
from cablepin.protocol.messages import NONCE_SIZE, Request

__all__ = ["HANDLERS", "AuthState", "CableSession"]


class AuthState(Enum):
    UNAUTHENTICATED = auto()
    AUTHENTICATED = auto()
    ALLOWED = auto()


Handler = Callable[["CableSession", dict[str, Any], int], dict[str, Any]]


class CableSession:
    """Per-connection dispatcher: ``handle(request, now)`` -> ok fields, or raises."""

    def __init__(self, cable: Cable, nonce: bytes) -> None:
        if len(nonce) != NONCE_SIZE:
            raise ValueError(f"a connection nonce is {NONCE_SIZE} bytes")
        self.cable = cable
        self.nonce = nonce
        self.grant: Grant | None = None
        self.opened_at: int | None = None  # the clock at the first request

    @property
    def auth_state(self) -> AuthState:
        if self.grant is None:
            return AuthState.UNAUTHENTICATED
        return AuthState.ALLOWED if self.grant.allowed else AuthState.AUTHENTICATED

    def handle(self, request: Request, now: int) -> dict[str, Any]:
        """Run one request; raises ``CableError`` or ``ProtocolError`` to refuse it."""
        if self.opened_at is None:
            self.opened_at = now
        handler, states = HANDLERS[request.op]
        if self.auth_state not in states:
            raise NotAuthenticated(
                f"'{request.op}' needs an authenticated connection; authenticate with your bond "
                "or the PIN first"
            )
        return handler(self, request.fields, now)

    def _granted(self) -> Grant:
        assert self.grant is not None  # the table admitted only authenticated states
        return self.grant

    # -- handlers (one per op; the table below says when each may run) --------

    def _hello(self, fields: dict[str, Any], now: int) -> dict[str, Any]:
        return self.cable.hello(self.nonce, now, challenge=fields.get("challenge"))

    def _command(self, fields: dict[str, Any], now: int) -> dict[str, Any]:
        assert self.opened_at is not None  # set by handle()
        open_s = max(0, now - self.opened_at)
        applied = self.cable.apply_command(fields["cmd"], self.nonce, now, open_s=open_s)
        self.grant = applied.grant
        return {"receipt": applied.receipt, "kind": str(applied.kind)}

    def _auth(self, fields: dict[str, Any], now: int) -> dict[str, Any]:
        if "bond" in fields:
            grant = self.cable.auth_bond(fields["bond"])
            self._keep_permission(grant)
            return {"via": "bond"}
        if "pin" in fields:
            token, grant = self.cable.auth_pin(fields["pin"], now)
            self._keep_permission(grant)
            return {"via": "pin", "bond": token}
        raise PinRequired("send your bond or the cable's PIN to authenticate")

    def _keep_permission(self, grant: Grant) -> None:
        # Authenticating again must not throw away an unused allow_pin_set (P8).
        if self.grant is not None and self.grant.allowed and self.grant.epoch == grant.epoch:
            self.grant = Grant(grant.epoch, grant.bond_hash, allowed=True)
        else:
            self.grant = grant

    def _set_pin(self, fields: dict[str, Any], now: int) -> dict[str, Any]:
        token, self.grant = self.cable.set_pin(
            self._granted(), fields["new"], fields.get("current"), now
        )
        return {"bond": token}

    def _read(self, fields: dict[str, Any], now: int) -> dict[str, Any]:
        return self.cable.read(self._granted(), fields["after_seq"], fields["limit"])


_ANY: Final = frozenset(AuthState)
_AUTHENTICATED: Final = frozenset({AuthState.AUTHENTICATED, AuthState.ALLOWED})

HANDLERS: Final[Mapping[str, tuple[Handler, frozenset[AuthState]]]] = {
    "hello": (CableSession._hello, _ANY),
    "command": (CableSession._command, _ANY),
    "auth": (CableSession._auth, _ANY),
    "set_pin": (CableSession._set_pin, _AUTHENTICATED),
    "read": (CableSession._read, _AUTHENTICATED),
}
