"""The app's client of the cloud's JSON API (docs/dev/contracts.md, "HTTP between app and cloud").

Rules kept here:

* One method per route the app uses; bytes travel as standard base64.
* An error answer ``{"error", "message", ...}`` raises ``CloudRefused`` with
  the cloud's own code and details (``not_assigned``, ``wipe_pending``, ...);
  a cloud that cannot be reached raises ``CloudUnreachable``. Nothing else
  escapes, so a caller handles one error tree.
* The transport is injectable (``httpx.BaseTransport``): tests run this very
  client against the real cloud app in-process or over a real port.
* ``request`` is the general door for the few calls a fleet manager or a
  test makes with the same login (handover, PIN permission, audit).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

import httpx

from cablepin.app.errors import CloudRefused, CloudUnreachable, LinkError, NotLoggedIn
from cablepin.protocol.commands import CommandKind
from cablepin.protocol.errors import MessageError
from cablepin.protocol.hello import Hello

__all__ = ["BeforeLink", "CloudClient", "ConnectReply", "Login", "Pending", "Synced"]

DEFAULT_TIMEOUT_S: Final = 15.0
API: Final = "/api/v1"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@dataclass(frozen=True)
class Login:
    token: str
    email: str
    role: str
    factory_ca_pem: str


@dataclass(frozen=True)
class Pending:
    """A command the cloud signed for this connection, to be relayed to the cable."""

    id: str
    kind: CommandKind
    blob: bytes
    purpose: str | None = None  # a wipe's: handover | reset (by support) | clean_start


@dataclass(frozen=True)
class Synced:
    """The cloud's last verified position in a cable's chain."""

    epoch: int
    seq: int


@dataclass(frozen=True)
class BeforeLink:
    """What the cloud says before the app opens the link (``GET .../challenge``)."""

    challenge: bytes
    nothing_pending: bool  # nothing to relay or settle: read in the link's first exchange
    synced: Synced


@dataclass(frozen=True)
class ConnectReply:
    assigned: bool
    commands: tuple[Pending, ...]
    synced: Synced


class CloudClient:
    """A logged-in (or not yet logged-in) app's view of the cloud."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = httpx.Client(base_url=self.base_url, transport=transport, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CloudClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the general door -----------------------------------------------------

    def request(
        self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        return self._send(method, path, json=json, params=params)

    def _send(self, method: str, path: str, **content: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = self._http.request(method, path, headers=headers, **content)
        except httpx.HTTPError as e:
            raise CloudUnreachable(
                f"cannot reach the cloud at {self.base_url} ({e.__class__.__name__}); check the "
                "connection and try again",
            ) from e
        if response.is_success:
            return response.json() if response.content else {}
        raise _refusal(response)

    def _authed(self) -> None:
        if not self.token:
            raise NotLoggedIn(
                "you are not logged in; run: cablepin app login --server URL --email E "
                "--password-stdin"
            )

    # -- login ----------------------------------------------------------------

    def login(self, email: str, password: str) -> Login:
        answer = self.request("POST", f"{API}/auth/login", {"email": email, "password": password})
        user = answer.get("user", {})
        login = Login(
            token=str(answer["token"]),
            email=str(user.get("email", email)),
            role=str(user.get("role", "")),
            factory_ca_pem=str(answer["factory_ca_pem"]),
        )
        self.token = login.token
        return login

    def logout(self) -> None:
        self._authed()
        self.request("POST", f"{API}/auth/logout")
        self.token = None

    def factory_ca(self) -> str:
        return str(self.request("GET", f"{API}/factory-ca")["factory_ca_pem"])

    def me(self) -> dict[str, Any]:
        self._authed()
        return dict(self.request("GET", f"{API}/me"))

    # -- reimbursement -----------------------------------------------------------

    def add_tariff(
        self, *, price: str, valid_from: str, valid_to: str, document: BinaryIO, name: str
    ) -> dict[str, Any]:
        """Store a tariff with its proof (M2). The cloud judges the document (PDF, PNG or
        JPEG by its content, at most 5 MB) and the dates; it is streamed, not read here."""
        self._authed()
        form = {"price": price, "valid_from": valid_from, "valid_to": valid_to}
        files = {"document": (name, document, "application/octet-stream")}
        return dict(self._send("POST", f"{API}/me/tariffs", data=form, files=files))

    # -- the connect flow's three calls -----------------------------------------

    def challenge(self, serial: str) -> bytes:
        """A fresh challenge for the cable's hello (it proves the hello is from now)."""
        return self.before_link(serial).challenge

    def before_link(self, serial: str) -> BeforeLink:
        """The challenge, and whether anything waits for the cable (asked before the link)."""
        self._authed()
        answer = self.request("GET", f"{API}/app/cables/{serial}/challenge")
        return BeforeLink(
            challenge=unb64(str(answer["challenge"])),
            nothing_pending=answer.get("nothing_pending") is True,
            synced=_synced(answer.get("synced")),
        )

    def connect(self, serial: str, hello: Mapping[str, Any]) -> ConnectReply:
        """Tell the cloud what the cable said in ``hello``; get the commands for this nonce."""
        self._authed()
        try:
            body = _connect_body(Hello.from_wire(hello))
        except MessageError as e:
            raise LinkError(
                f"the cable's hello is incomplete ({e.message}); connect to the cable again"
            ) from e
        answer = self.request("POST", f"{API}/app/cables/{serial}/connect", body)
        commands = tuple(
            Pending(
                id=str(c["id"]),
                kind=_kind(c["kind"]),
                blob=unb64(c["blob"]),
                purpose=str(c["purpose"]) if c.get("purpose") else None,
            )
            for c in answer.get("commands", [])
        )
        return ConnectReply(
            assigned=bool(answer.get("assigned", False)),
            commands=commands,
            synced=_synced(answer.get("synced")),
        )

    def release(self, serial: str, command_id: str) -> None:
        """Hand back a PIN permission this app did not relay (it is ready again at once)."""
        self._authed()
        self.request("POST", f"{API}/app/cables/{serial}/release", {"command_id": command_id})

    def post_receipt(self, serial: str, receipt: bytes) -> dict[str, Any]:
        self._authed()
        return dict(
            self.request("POST", f"{API}/app/cables/{serial}/receipts", {"receipt": b64(receipt)})
        )

    def upload_sessions(
        self, serial: str, epoch: int, records: list[list[int]], head_sig: bytes
    ) -> tuple[int, int, Synced]:
        """Post one read batch; returns (accepted, duplicates, synced)."""
        self._authed()
        body = {"epoch": epoch, "records": records, "head_sig": b64(head_sig)}
        answer = self.request("POST", f"{API}/app/cables/{serial}/sessions", body)
        return (
            int(answer.get("accepted", 0)),
            int(answer.get("duplicates", 0)),
            _synced(answer.get("synced")),
        )

    def sessions(self, **params: Any) -> list[dict[str, Any]]:
        self._authed()
        answer = self.request("GET", f"{API}/sessions", params=params or None)
        items = answer.get("items", []) if isinstance(answer, dict) else []
        return [dict(item) for item in items]


def _connect_body(hello: Hello) -> dict[str, Any]:
    """The hello as JSON (``cloud.schemas.ConnectRequest``); the cloud checks ``sig``."""
    body: dict[str, Any] = {
        "nonce": b64(hello.nonce),
        "epoch": hello.epoch,
        "head": {"seq": hello.head_seq, "hash": b64(hello.head_hash)},
        "pin_default": hello.pin_default,
        "wait_s": hello.wait_s,
        "locked": hello.locked,
        "fw": hello.fw,
        "sig": b64(hello.sig),
        "challenge": b64(hello.challenge or b""),
    }
    if hello.receipt:
        body["receipt"] = b64(hello.receipt)
    return body


def _kind(value: Any) -> CommandKind:
    try:
        return CommandKind(value)
    except ValueError:
        raise CloudRefused.kind("unknown_command_kind")(
            f"the cloud sent a command this app does not know ({value!r}); update the app "
            "and connect again",
            kind=str(value),
        ) from None


def _synced(value: Any) -> Synced:
    if not isinstance(value, dict):
        return Synced(epoch=0, seq=0)
    return Synced(epoch=int(value.get("epoch") or 0), seq=int(value.get("seq") or 0))


def _refusal(response: httpx.Response) -> CloudRefused:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return CloudRefused.kind("cloud_error")(
            f"the cloud answered {response.status_code} {response.reason_phrase}; try again later",
            status=response.status_code,
        )
    return CloudRefused.from_body(body)
