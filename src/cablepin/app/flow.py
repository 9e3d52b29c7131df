"""The connect flow (DESIGN.md, "Connect flow (the app)") and the PIN change.

The order is the rule; each step is one method below, called in this order:

0. Before the link is opened, ``before_link`` at the cloud: a fresh
   challenge, whether anything waits for this cable (a command to relay, a
   clean-start check to settle), and where the cloud's copy of the chain
   ends. The radio never waits for the cloud in the middle of an exchange.
1. Open the link: TLS proves the cable's serial against the factory CA
   (``CableLink``), then ``hello``.
2. ``connect`` at the cloud with what the cable said (nonce, epoch, head,
   default-PIN flag, wait, firmware, last receipt): the cloud answers with
   the commands signed for this nonce and its last synced ``(epoch, seq)``.
3. Relay every command and post its receipt. After a wipe, ``hello`` again
   on the same connection (the nonce stays, the epoch is new) and ask the
   cloud again, so ``assigned`` and ``synced`` describe the wiped cable.
4. Authenticate: an applied ``allow_pin_set`` -> set the new PIN without the
   old one (P8); a stored bond -> ``auth{bond}`` (a revoked one is dropped,
   P4); PIN ``0000`` -> ``auth{pin: "0000"}`` without asking (P3); else ask
   the driver for the PIN (P3). A successful PIN leaves a bond here.
5. While the PIN is ``0000``, urge the driver to change it (P6).
6. Sync, only if the cloud says the cable is assigned to this driver (S1):
   ``read`` after the cloud's synced seq (same epoch, else from 0), the
   reads pipelined; close the link; then post every batch with its signed
   head.

**The quick visit (B1).** When the cloud said in step 0 that nothing waits
and this app holds a bond, steps 1-6 shrink to one exchange after the TLS
handshake: ``hello``, ``auth{bond}`` and the first ``read`` travel in one
flight (further reads, if the first batch was not all, in the next); the
link is closed; then ``connect`` with the hello, and the upload. If anything
is not as expected (the bond was revoked, the cable is in another epoch, the
connect hands out a command after all), nothing read is uploaded and the
visit is made again step by step.

**H2 lives here:** ``_read`` is reached only after ``_relay`` returned, and
``_relay`` returns only after every command was relayed and its receipt
accepted by the cloud; any failure before that ends the visit with nothing
read. The quick visit reads at once only because the cloud said, just before
the link was opened, that no command waits (the same answer ``connect``
would give a moment later: a command ordered after it is missed by both
alike, and the cloud refuses every upload while a wipe is open). A sync
interrupted anywhere is finished by the next connect: the cloud keeps the
verified head and inserts idempotently, so nothing is lost or counted twice.

An ``allow_pin_set`` is relayed only when the app has the driver's new PIN in
hand (the prompt answered), because relaying it spends the permission.

Prompting, progress, notices and the clock are injected: the CLI passes
getpass and a Rich bar, tests pass plain functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, assert_never

from cablepin.app.cloud import BeforeLink, ConnectReply, Pending, Synced
from cablepin.app.errors import (
    AppError,
    CableRefused,
    InvalidPinEntry,
    LinkError,
    NotAssignedToYou,
    PinNeeded,
    WeakPinEntry,
)
from cablepin.app.home import Home
from cablepin.protocol.batch import unpack_records
from cablepin.protocol.chain import Record
from cablepin.protocol.commands import CommandKind
from cablepin.protocol.connection import MAX_IN_FLIGHT
from cablepin.protocol.messages import MAX_READ_LIMIT
from cablepin.protocol.pin_policy import is_pin, is_weak

__all__ = [
    "DEFAULT_BATCH",
    "AppCore",
    "ChangeResult",
    "Cloud",
    "ConnectResult",
    "Link",
    "PinAsk",
    "check_new_pin",
    "check_pin_format",
]

# A read's records are one upload: as many as both allow (fewer signed heads on the link).
DEFAULT_BATCH: Final = MAX_READ_LIMIT
DEFAULT_PIN: Final = "0000"
MAX_ROUNDS: Final = 3  # connect -> wipe -> connect again; a third wipe in one visit is absurd

Purpose = Literal["pin", "current", "new"]

# What the driver is told after a wipe, by why the cloud asked for it (i18n codes).
WIPE_NOTICES: Final = {
    "handover": "cable_reset",
    "reset": "cable_reset_support",
    "clean_start": "cable_reset_clean_start",
}


class Link(Protocol):
    """What the flow needs from a link to the cable (``CableLink`` is one)."""

    def request(self, op: str, **fields: Any) -> dict[str, Any]: ...

    def pipeline(
        self, requests: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[dict[str, Any] | CableRefused]: ...

    def close(self) -> None: ...


class Cloud(Protocol):
    """What the flow needs from the cloud (``CloudClient`` is one)."""

    def challenge(self, serial: str) -> bytes: ...

    def before_link(self, serial: str) -> BeforeLink: ...

    def connect(self, serial: str, hello: dict[str, Any]) -> ConnectReply: ...

    def post_receipt(self, serial: str, receipt: bytes) -> dict[str, Any]: ...

    def release(self, serial: str, command_id: str) -> None: ...

    def upload_sessions(
        self, serial: str, epoch: int, records: list[list[int]], head_sig: bytes
    ) -> tuple[int, int, Synced]: ...

    def sessions(self, **params: Any) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class PinAsk:
    """One question to the driver: the cable's PIN, the current PIN, or a new one."""

    serial: str
    purpose: Purpose


PinPrompt = Callable[[PinAsk], str | None]
Progress = Callable[[int, int], None]  # (done, total) sessions of this sync
Notice = Callable[[str], None]  # a notice code, see i18n
OpenLink = Callable[[str, str | None], Link]  # (serial, address or None) -> open link


@dataclass(frozen=True)
class ConnectResult:
    serial: str
    epoch: int
    pin_default: bool
    auth: str | None  # bond | pin | default | allowed (None: not assigned, not asked)
    commands: list[str]  # kinds applied, in order
    synced: int  # sessions the cloud accepted now
    assigned: bool
    duplicates: int = 0
    head_seq: int = 0
    notices: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "epoch": self.epoch,
            "pin_default": self.pin_default,
            "auth": self.auth,
            "commands": list(self.commands),
            "synced": self.synced,
            "assigned": self.assigned,
            "duplicates": self.duplicates,
            "head_seq": self.head_seq,
            "notices": list(self.notices),
            "elapsed_s": round(self.elapsed_s, 3),
        }


@dataclass(frozen=True)
class ChangeResult:
    serial: str
    epoch: int
    auth: str
    commands: list[str]
    pin_default: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "epoch": self.epoch,
            "auth": self.auth,
            "commands": list(self.commands),
            "pin_default": self.pin_default,
            "changed": True,
        }


def check_pin_format(pin: str) -> str:
    """P2, checked before the PIN reaches the cable, so a typo costs no attempt."""
    if not is_pin(pin):
        raise InvalidPinEntry("a PIN is exactly four digits 0-9 (for example 4711); enter it again")
    return pin


def check_new_pin(pin: str) -> str:
    """A PIN the driver may choose, checked before anything is sent: a weak choice must
    not use up a fleet manager's permission (P8) nor cost an attempt (U2)."""
    if is_weak(check_pin_format(pin)):
        raise WeakPinEntry(
            f"{pin} is too easy to guess; choose four digits that are not a run, a repeat "
            "or a common pick"
        )
    return pin


def _no_prompt(ask: PinAsk) -> str | None:
    return None


def _ignore(*args: object) -> None:
    return None


@dataclass(frozen=True)
class _Batch:
    """One read's records and the cable's signature over their head."""

    records: list[Record]
    head_sig: bytes


@dataclass
class _Visit:
    """What one connection has learnt so far."""

    serial: str
    link: Link
    hello: dict[str, Any]
    reply: ConnectReply | None = None
    applied: list[str] = field(default_factory=list)
    allowed: bool = False
    new_pin: str | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def epoch(self) -> int:
        return int(self.hello["epoch"])

    @property
    def pin_default(self) -> bool:
        return bool(self.hello["pin_default"])

    @property
    def assigned(self) -> bool:
        return self.reply is not None and self.reply.assigned


class AppCore:
    """The driver's app, without a screen: connect, change the PIN, list sessions."""

    def __init__(
        self,
        home: Home,
        cloud: Cloud,
        open_link: OpenLink,
        *,
        pin_prompt: PinPrompt = _no_prompt,
        progress: Progress = _ignore,
        notice: Notice = _ignore,
        clock: Callable[[], float] = time.monotonic,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        self.home = home
        self.cloud = cloud
        self.open_link = open_link
        self.pin_prompt = pin_prompt
        self.progress = progress
        self.on_notice = notice
        self.clock = clock
        self.batch = batch

    # -- public face ------------------------------------------------------------

    def connect(self, serial: str, address: str | None = None) -> ConnectResult:
        started = self.clock()
        ahead = self.cloud.before_link(serial)
        bond = self.home.load().bonds.get(serial)
        if ahead.nothing_pending and bond is not None:
            quick = self._quick(serial, address, ahead, bond)
            if quick is not None:
                return self._synced(quick[0], "bond", quick[1], started)
        with self._visit(serial, address, ahead.challenge, new_pin=self._ask_new) as visit:
            if not visit.assigned:
                return self._result(visit, auth=None, synced=0, started=started)
            auth = self._authenticate(visit)
            batches = self._read(visit, self._after(visit))
        return self._synced(visit, auth, batches, started)

    def change_pin(
        self,
        serial: str,
        current: str | None = None,
        new: str | None = None,
        address: str | None = None,
    ) -> ChangeResult:
        """P5: change the PIN; the current one is needed unless it is 0000 or a reset is allowed.

        A PIN not given is asked for (``pin_prompt``) at the moment it is needed: the
        new one when the cable is ready to take it, the current one only if needed.
        """
        if new is not None:
            check_new_pin(new)
        if current:
            check_pin_format(current)
        chosen = (lambda _ask: new) if new is not None else self._ask_new
        challenge = self.cloud.challenge(serial)  # before the link, which then never waits
        with self._visit(serial, address, challenge, new_pin=chosen) as visit:
            if visit.allowed and visit.new_pin is not None:
                self._set_pin(visit, visit.new_pin, None)
                return ChangeResult(serial, visit.epoch, "allowed", visit.applied)
            if not visit.assigned:
                raise self._not_assigned(visit)
            if not visit.pin_default and not current:
                current = self._ask(visit, "current")
            auth = self._authenticate(visit, pin=current)
            fresh = new if new is not None else self._ask(visit, "new")
            self._set_pin(visit, fresh, None if visit.pin_default else current)
            return ChangeResult(serial, visit.epoch, auth, visit.applied)

    def sessions(self) -> list[dict[str, Any]]:
        return self.cloud.sessions()

    # -- steps 1-3: link, hello, cloud, commands ------------------------------------

    def _quick(
        self, serial: str, address: str | None, ahead: BeforeLink, bond: bytes
    ) -> tuple[_Visit, list[_Batch]] | None:
        """B1: the whole visit in the link's first exchange (see the module's docstring).

        None when anything is not as expected: nothing read here is uploaded, and
        the caller makes the visit again step by step on a new link.
        """
        link = self.open_link(serial, address)
        try:
            hello, auth, first = link.pipeline(
                [
                    ("hello", {"challenge": ahead.challenge}),
                    ("auth", {"bond": bond}),
                    ("read", {"after_seq": ahead.synced.seq, "limit": self.batch}),
                ]
            )
            if isinstance(hello, CableRefused):
                raise hello
            visit = _Visit(serial, link, self._genuine(serial, hello))
            if (
                isinstance(auth, CableRefused)
                or isinstance(first, CableRefused)
                or visit.epoch != ahead.synced.epoch
            ):
                return None
            batches = self._read(visit, ahead.synced.seq, first=first)
        finally:
            link.close()
        visit.reply = self.cloud.connect(serial, visit.hello)
        if visit.reply.commands or not visit.assigned or visit.reply.synced.epoch != visit.epoch:
            for command in visit.reply.commands:  # signed for a link that is closed now
                if command.kind is CommandKind.ALLOW_PIN_SET:
                    self.cloud.release(serial, command.id)
            return None
        return visit, batches

    @contextmanager
    def _visit(
        self,
        serial: str,
        address: str | None,
        challenge: bytes,
        *,
        new_pin: Callable[[PinAsk], str | None],
    ) -> Iterator[_Visit]:
        link = self.open_link(serial, address)
        try:
            # The cloud's challenge, signed into the hello, proves to it the hello is fresh.
            hello = self._genuine(serial, link.request("hello", challenge=challenge))
            visit = _Visit(serial, link, hello)
            self._relay(visit, new_pin)
            yield visit
        finally:
            link.close()

    @staticmethod
    def _genuine(serial: str, hello: dict[str, Any]) -> dict[str, Any]:
        if hello.get("serial") != serial:
            raise LinkError(
                f"the cable says it is {hello.get('serial')!r}, not {serial}; "
                "do not enter a PIN and check the serial"
            )
        return hello

    def _relay(self, visit: _Visit, new_pin: Callable[[PinAsk], str | None]) -> None:
        """Step 2-3 (H2): every command relayed and its receipt posted, or an exception."""
        for _round in range(MAX_ROUNDS):
            visit.reply = self.cloud.connect(visit.serial, visit.hello)
            wiped = False
            for command in visit.reply.commands:
                match command.kind:
                    case CommandKind.WIPE:
                        self._apply(visit, command)
                        wiped = True
                        self._notice(
                            visit, WIPE_NOTICES.get(command.purpose or "", "cable_reset_other")
                        )
                        break  # later commands were signed for the old epoch
                    case CommandKind.ALLOW_PIN_SET:
                        if visit.new_pin is None and not self._take_new_pin(
                            visit, command, new_pin
                        ):
                            continue
                        try:
                            self._apply(visit, command)
                        except AppError:
                            # Refused (its two minutes ran out at the prompt) or lost: hand the
                            # copy back, so the next try gets the permission at once.
                            with suppress(AppError):  # the first error is the news
                                self.cloud.release(visit.serial, command.id)
                            raise
                        visit.allowed = True
                    case _:
                        assert_never(command.kind)
            if not wiped:
                return
            # Same connection (nonce) and challenge; the cable is in its new epoch now.
            visit.hello = visit.link.request("hello", challenge=visit.hello["challenge"])
        visit.reply = self.cloud.connect(visit.serial, visit.hello)

    def _take_new_pin(
        self, visit: _Visit, command: Pending, new_pin: Callable[[PinAsk], str | None]
    ) -> bool:
        """Relaying a permission spends it: only with the driver's new PIN in hand."""
        chosen = new_pin(PinAsk(visit.serial, "new"))
        try:
            if chosen is None:
                self._notice(visit, "pin_set_allowed")  # keep it for later
                self.cloud.release(visit.serial, command.id)
                return False
            visit.new_pin = check_new_pin(chosen)
        except AppError:
            # A weak or malformed choice: the permission stays for the next try.
            self.cloud.release(visit.serial, command.id)
            raise
        return True

    def _apply(self, visit: _Visit, command: Pending) -> None:
        answer = visit.link.request("command", cmd=command.blob)
        self.cloud.post_receipt(visit.serial, answer["receipt"])
        visit.applied.append(command.kind.value)

    # -- step 4: authenticate ------------------------------------------------------

    def _authenticate(self, visit: _Visit, pin: str | None = None) -> str:
        if visit.allowed and visit.new_pin is not None:
            self._set_pin(visit, visit.new_pin, None)
            return "allowed"
        bond = self.home.load().bonds.get(visit.serial)
        if bond is not None:
            try:
                visit.link.request("auth", bond=bond)
                return "bond"
            except CableRefused as e:
                if e.code != "unknown_bond":
                    raise
                self.home.drop_bond(visit.serial)  # revoked by a PIN change or a reset (P4)
        if visit.pin_default:
            self._auth_pin(visit, DEFAULT_PIN)
            return "default"
        self._refuse_if_locked(visit)
        self._auth_pin(visit, pin if pin else self._ask(visit, "pin"))
        return "pin"

    def _auth_pin(self, visit: _Visit, pin: str) -> None:
        answer = visit.link.request("auth", pin=check_pin_format(pin))
        self.home.save_bond(visit.serial, answer["bond"])

    def _set_pin(self, visit: _Visit, new: str, current: str | None) -> None:
        fields: dict[str, Any] = {"new": check_new_pin(new)}
        if current is not None:
            fields["current"] = current
        answer = visit.link.request("set_pin", **fields)
        self.home.save_bond(visit.serial, answer["bond"])  # every other bond is revoked now
        visit.hello = {**visit.hello, "pin_default": False}

    def _refuse_if_locked(self, visit: _Visit) -> None:
        """Do not ask for a PIN the cable would not take now (P9): say how long to wait."""
        wait_s = int(visit.hello.get("wait_s", 0))
        if visit.hello.get("locked"):
            raise CableRefused.kind("locked")(
                "too many wrong PINs; ask your fleet manager to allow a new PIN",
                reason="permanent",
            )
        if wait_s > 0:
            raise CableRefused.kind("locked")(
                f"too many wrong PINs; wait {wait_s} seconds before the next try, "
                "or ask your fleet manager to allow a new PIN",
                wait_s=wait_s,
            )

    def _ask(self, visit: _Visit, purpose: Purpose) -> str:
        answer = self.pin_prompt(PinAsk(visit.serial, purpose))
        if answer is None or answer == "":
            # Only `change-pin` asks for a current or a new PIN; it reads both from stdin.
            option = "--pin-stdin" if purpose == "pin" else "--pins-stdin"
            raise PinNeeded(
                f"cable {visit.serial} needs the {'' if purpose == 'pin' else purpose + ' '}PIN; "
                f"enter it in a terminal or pass it with {option}",
                serial=visit.serial,
                purpose=purpose,
            )
        return check_pin_format(answer)

    def _ask_new(self, ask: PinAsk) -> str | None:
        return self.pin_prompt(ask)

    # -- step 6: sync ----------------------------------------------------------------

    def _after(self, visit: _Visit) -> int:
        """Where the cloud's copy of this epoch's chain ends (0: a new epoch)."""
        assert visit.reply is not None
        synced = visit.reply.synced
        return synced.seq if synced.epoch == visit.epoch else 0

    def _read(self, visit: _Visit, after: int, first: dict[str, Any] | None = None) -> list[_Batch]:
        """Every record after ``after``: the hello says how many, so the reads are pipelined
        (``MAX_IN_FLIGHT`` at a time). ``first``: the answer to a read already sent."""
        head_seq = int(visit.hello["head"]["seq"])
        batches: list[_Batch] = []
        answers = [first] if first is not None else []
        while True:
            for answer in answers:
                records = unpack_records(answer["batch"])
                if not records or records[0].seq != after + 1:
                    return batches
                batches.append(_Batch(records, answer["head_sig"]))
                after = records[-1].seq
                if not answer["more"]:
                    return batches
            if after >= head_seq:
                return batches
            count = min(MAX_IN_FLIGHT, -(-(head_seq - after) // self.batch))
            answers = []
            requests = [
                ("read", {"after_seq": after + i * self.batch, "limit": self.batch})
                for i in range(count)
            ]
            for reply in visit.link.pipeline(requests):
                if isinstance(reply, CableRefused):
                    raise reply
                answers.append(reply)

    def _upload(self, visit: _Visit, batches: list[_Batch]) -> tuple[int, int]:
        """Post every batch read (after the link is closed); (accepted, duplicates)."""
        total = sum(len(batch.records) for batch in batches)
        accepted_total = duplicates_total = done = 0
        self.progress(0, total)
        for batch in batches:
            accepted, duplicates, _ = self.cloud.upload_sessions(
                visit.serial, visit.epoch, [r.to_wire() for r in batch.records], batch.head_sig
            )
            accepted_total += accepted
            duplicates_total += duplicates
            done += len(batch.records)
            self.progress(done, total)
        return accepted_total, duplicates_total

    def _synced(
        self, visit: _Visit, auth: str, batches: list[_Batch], started: float
    ) -> ConnectResult:
        if visit.pin_default:
            self._notice(visit, "change_default_pin")
        synced, duplicates = self._upload(visit, batches)
        return self._result(visit, auth=auth, synced=synced, started=started, duplicates=duplicates)

    # -- small helpers ----------------------------------------------------------------

    def _notice(self, visit: _Visit, code: str) -> None:
        if code not in visit.notices:
            visit.notices.append(code)
            self.on_notice(code)

    def _not_assigned(self, visit: _Visit) -> NotAssignedToYou:
        return NotAssignedToYou(
            "this cable is not assigned to you; ask your fleet manager to assign it to you",
            serial=visit.serial,
            epoch=visit.epoch,
            commands=list(visit.applied),
        )

    def _result(
        self, visit: _Visit, *, auth: str | None, synced: int, started: float, duplicates: int = 0
    ) -> ConnectResult:
        return ConnectResult(
            serial=visit.serial,
            epoch=visit.epoch,
            pin_default=visit.pin_default,
            auth=auth,
            commands=list(visit.applied),
            synced=synced,
            assigned=visit.assigned,
            duplicates=duplicates,
            head_seq=int(visit.hello["head"]["seq"]),
            notices=list(visit.notices),
            elapsed_s=self.clock() - started,
        )

    def not_assigned_error(self, result: ConnectResult) -> NotAssignedToYou:
        """The refusal a shell shows when ``connect`` returned ``assigned=False``."""
        return NotAssignedToYou(
            "this cable is not assigned to you; ask your fleet manager to assign it to you",
            serial=result.serial,
            epoch=result.epoch,
            commands=list(result.commands),
        )
