"""`cablepin app ...`: the driver's app on the command line (thin glue over ``cablepin.app``).

Contract (DESIGN.md, "Command line"): every command takes ``--json`` and
``--home DIR`` (or ``CABLEPIN_HOME``); failures exit non-zero with the
error's code. PINs are read hidden from a terminal (getpass) or, for
scripts, from stdin (``--pin-stdin``, ``--pins-stdin``); without either and
without a terminal a connect that needs a PIN fails with ``pin_required``
instead of waiting. Messages follow the system locale; ``--lang`` overrides.

In a terminal a typed PIN is checked before anything is sent and asked again
(``PROMPT_TRIES`` times) when it is malformed, weak or not repeated alike. The
sync's progress bar starts only once there are sessions to count, so it never
draws over a prompt. Serials are taken in any case (``cbl-00000001``).
Cables are heard on ``--radio DIR``, else the radio given at login, else
``CABLEPIN_RADIO``, else the per-user default.
"""

from __future__ import annotations

import datetime as dt
import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cablepin.app.cloud import CloudClient
from cablepin.app.errors import (
    AppError,
    CloudRefused,
    DocumentUnreadable,
    InvalidSerial,
    NotLoggedIn,
    WrongLogin,
)
from cablepin.app.flow import AppCore, PinAsk, check_new_pin, check_pin_format
from cablepin.app.home import AppState, Home, default_home
from cablepin.app.i18n import LANGUAGES, Translator, detect_language, explain
from cablepin.app.link import CableLink
from cablepin.app.scan import find, scan
from cablepin.cli.output import emit, fail
from cablepin.errors import CablepinError
from cablepin.evidence.money import typed_price
from cablepin.protocol.pki import SERIAL_PATTERN

__all__ = ["cli"]

cli = typer.Typer(no_args_is_help=True, help="The driver's app: log in, connect cables, sync.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="This app installation's folder (CABLEPIN_HOME, ~/.cablepin)."),
]
LangOption = Annotated[
    str | None, typer.Option("--lang", help="de | en (default: the system locale).")
]
AddressOption = Annotated[
    str | None, typer.Option("--address", help="HOST:PORT of the cable (skips the scan).")
]
RadioOption = Annotated[
    Path | None,
    typer.Option(
        "--radio",
        help="The folder where simulated cables advertise (a demo prints its own); "
        "default: the one given at login, else CABLEPIN_RADIO.",
    ),
]

PROMPT_TRIES = 3  # a typo is asked again; the third wrong answer ends the command


def _translator(lang: str | None, state: AppState | None = None) -> Translator:
    chosen = lang or (state.lang if state else None) or detect_language()
    if chosen not in LANGUAGES:
        raise typer.BadParameter(f"use one of {', '.join(LANGUAGES)}", param_hint="--lang")
    return Translator(chosen)


@contextmanager
def _reporting(t: Translator, *, as_json: bool) -> Iterator[None]:
    """Like ``cli.output.reporting``, with the driver's sentence in the driver's language."""
    try:
        yield
    except CablepinError as error:
        original = error.message
        error.message = explain(error, t)
        if error.code in ("link_failed", "cloud_unreachable") and original != error.message:
            error.details.setdefault("cause", original)
        fail(error, as_json=as_json)


def _home(home: Path | None) -> Home:
    return Home(home if home is not None else default_home())


def _logged_in(home: Home) -> AppState:
    state = home.load()
    if not state.logged_in or not state.factory_ca_pem:
        raise NotLoggedIn(
            "you are not logged in; run: cablepin app login --server URL --email E --password-stdin"
        )
    return state


@contextmanager
def _logged_in_app(
    home: Path | None, lang: str | None, *, as_json: bool
) -> Iterator[tuple[Home, AppState, Translator]]:
    """The opening of every command that needs a login: errors reported in the
    driver's language (the home's choice once it is known)."""
    folder = _home(home)
    t = _translator(lang)
    with _reporting(t, as_json=as_json):
        state = _logged_in(folder)
        yield folder, state, _translator(lang, state)


def _radio(option: Path | None, state: AppState) -> Path | None:
    """The radio to listen on (None: ``CABLEPIN_RADIO`` or the per-user default)."""
    if option is not None:
        return option.resolve()
    return Path(state.radio) if state.radio else None


def _serial(typed: str) -> str:
    """A serial as the cable spells it; ``cbl-00000001`` is the same cable."""
    serial = typed.strip().upper()
    if not SERIAL_PATTERN.fullmatch(serial):
        raise InvalidSerial(
            f"{typed!r} is not a cable serial; serials look like CBL-00000001 "
            "(CBL- and 8 digits, printed on the cable); `cablepin app scan` lists those in range",
            serial=typed,
        )
    return serial


def _open_link(ca_pem: bytes, radio: Path | None) -> Callable[[str, str | None], CableLink]:
    def open_link(serial: str, address: str | None) -> CableLink:
        return CableLink(address or find(serial, radio).address, serial, ca_pem).open()

    return open_link


def _stdin_lines() -> list[str]:
    return [line.strip() for line in sys.stdin.read().splitlines()]


def _terminal_prompt(t: Translator) -> Callable[[PinAsk], str | None]:
    def checked(question: str, check: Callable[[str], str]) -> str:
        """Ask until the answer passes ``check`` (no attempt at the cable is spent on a typo)."""
        for attempt in range(1, PROMPT_TRIES + 1):
            answer = getpass.getpass(question).strip()
            try:
                return check(answer)
            except AppError as error:
                if attempt == PROMPT_TRIES:
                    raise
                typer.echo(explain(error, t), err=True)
        raise AssertionError("unreachable")  # pragma: no cover

    def prompt(ask: PinAsk) -> str | None:
        if ask.purpose == "new":
            for attempt in range(1, PROMPT_TRIES + 1):
                first = checked(
                    t.gettext("New PIN for cable %(serial)s (four digits): ", serial=ask.serial),
                    check_new_pin,
                )
                if getpass.getpass(t.gettext("Repeat the new PIN: ")).strip() == first:
                    return first
                if attempt == PROMPT_TRIES:
                    raise AppError(
                        t.gettext("The two PINs differ. Nothing was changed; try again.")
                    )
                typer.echo(t.gettext("The two PINs differ. Choose the new PIN again."), err=True)
        if ask.purpose == "current":
            question = t.gettext("Current PIN of cable %(serial)s: ", serial=ask.serial)
        else:
            question = t.gettext("PIN of cable %(serial)s: ", serial=ask.serial)
        return checked(question, check_pin_format)

    return prompt


def _no_terminal(ask: PinAsk) -> str | None:
    return None


def _notice_printer(t: Translator, serial: str, *, as_json: bool) -> Callable[[str], None]:
    def notice(code: str) -> None:
        if not as_json:
            typer.echo(t.notice(code, serial), err=True)

    return notice


class _SyncBar:
    """A Rich bar that exists only while there are sessions to count.

    It is started by the first update with a total and stopped when the count is
    complete, so it never runs while the app waits for the driver (a live bar
    redraws over a prompt and hides it).
    """

    def __init__(self, t: Translator) -> None:
        self._t = t
        self._bar: Progress | None = None
        self._task: Any = None

    def update(self, done: int, total: int) -> None:
        if total <= 0:
            return
        if self._bar is None:
            self._bar = Progress(
                TextColumn(self._t.gettext("Syncing sessions")),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._bar.add_task("sync", total=total)
            self._bar.start()
        self._bar.update(self._task, completed=done, total=total)
        if done >= total:
            self.stop()

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


@contextmanager
def _progress_bar(t: Translator, *, show: bool) -> Iterator[Callable[[int, int], None]]:
    if not show:
        yield lambda done, total: None
        return
    bar = _SyncBar(t)
    try:
        yield bar.update
    finally:
        bar.stop()


def _core(
    home: Home,
    state: AppState,
    *,
    prompt: Callable[[PinAsk], str | None],
    progress: Callable[[int, int], None] | None = None,
    notice: Callable[[str], None] | None = None,
    radio: Path | None = None,
) -> tuple[AppCore, CloudClient]:
    assert state.server is not None
    assert state.factory_ca_pem is not None
    cloud = CloudClient(state.server, state.token)
    core = AppCore(
        home,
        cloud,
        _open_link(state.factory_ca_pem.encode("ascii"), _radio(radio, state)),
        pin_prompt=prompt,
        progress=progress or (lambda done, total: None),
        notice=notice or (lambda code: None),
    )
    return core, cloud


@cli.command("login")
def login(
    server: Annotated[str, typer.Option("--server", help="The cloud's URL.")],
    email: Annotated[str, typer.Option("--email")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    radio: RadioOption = None,
    home: HomeOption = None,
    lang: LangOption = None,
    as_json: JsonOption = False,
) -> None:
    """Log in; keeps the token and the factory CA (to check cables) in this app's home.

    Every installation (a phone, a tablet: each ``--home``) logs in on its own."""
    t = _translator(lang)
    with _reporting(t, as_json=as_json):
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = getpass.getpass("Password: ")
        else:
            raise AppError("give the password with --password-stdin (or run in a terminal)")
        folder = _home(home)
        with CloudClient(server) as cloud:
            try:
                answer = cloud.login(email, password)
            except CloudRefused as e:
                if e.code != "unauthorized":
                    raise
                raise WrongLogin(
                    "wrong e-mail or password; check both, or ask your fleet manager "
                    "for a new invitation",
                    email=email,
                ) from e
        folder.update(
            lambda s: AppState(
                server=server.rstrip("/"),
                token=answer.token,
                email=answer.email,
                role=answer.role,
                factory_ca_pem=answer.factory_ca_pem,
                lang=lang or s.lang,
                radio=str(radio.resolve()) if radio is not None else s.radio,
                bonds=s.bonds if s.server in (None, server.rstrip("/")) else {},
            )
        )
        emit(
            {
                "email": answer.email,
                "role": answer.role,
                "server": server,
                "home": str(folder.path),
            },
            as_json=as_json,
            text=t.gettext(
                "Logged in as %(email)s at %(server)s.", email=answer.email, server=server
            ),
        )


@cli.command("logout")
def logout(home: HomeOption = None, lang: LangOption = None, as_json: JsonOption = False) -> None:
    """Forget the login (the token is revoked at the cloud); bonds with cables stay."""
    folder = _home(home)
    t = _translator(lang)
    with _reporting(t, as_json=as_json):
        state = folder.load()
        t = _translator(lang, state)
        if state.logged_in and state.server:
            with CloudClient(state.server, state.token) as cloud:
                try:
                    cloud.logout()
                except AppError as e:
                    if e.code != "unauthorized":  # an expired token is logged out already
                        raise
        folder.update(AppState.logged_out)
        emit(
            {"logged_out": True},
            as_json=as_json,
            text=t.gettext("Logged out. Bonds with cables stay on this phone."),
        )


@cli.command("scan")
def scan_cmd(
    radio: RadioOption = None,
    home: HomeOption = None,
    lang: LangOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the cables in range; "bonded" ones connect without asking for the PIN."""
    state = _home(home).load()
    t = _translator(lang, state)
    with _reporting(t, as_json=as_json):
        cables = [
            {"serial": a.serial, "address": a.address, "bonded": a.serial in state.bonds}
            for a in scan(_radio(radio, state))
        ]
        lines = "\n".join(
            f"{c['serial']}  {c['address']}"
            + (f"  ({t.gettext('known: connects without the PIN')})" if c["bonded"] else "")
            for c in cables
        )
        emit(
            {"cables": cables},
            as_json=as_json,
            text=lines or t.gettext("No cable in range. Plug one in and try again."),
        )


@cli.command("connect")
def connect(
    serial: Annotated[str, typer.Argument(help="The cable's serial, e.g. CBL-00000001.")],
    pin_stdin: Annotated[
        bool, typer.Option("--pin-stdin", help="Read the PIN (or a new PIN) from stdin.")
    ] = False,
    address: AddressOption = None,
    radio: RadioOption = None,
    home: HomeOption = None,
    lang: LangOption = None,
    as_json: JsonOption = False,
) -> None:
    """Connect a cable: relay the cloud's commands, authenticate, then sync its sessions."""
    with _logged_in_app(home, lang, as_json=as_json) as (folder, state, t):
        serial = _serial(serial)
        prompt = _prompt_for(pin_stdin, t)
        show_bar = not as_json and sys.stderr.isatty()
        with _progress_bar(t, show=show_bar) as progress:
            core, cloud = _core(
                folder,
                state,
                prompt=prompt,
                progress=progress,
                notice=_notice_printer(t, serial, as_json=as_json),
                radio=radio,
            )
            with cloud:
                result = core.connect(serial, address)
        if not result.assigned:
            raise core.not_assigned_error(result)
        out = result.to_dict()
        out["messages"] = [t.notice(code, serial) for code in result.notices]
        text = t.ngettext(
            "Connected to %(serial)s: %(num)s new session synced.",
            "Connected to %(serial)s: %(num)s new sessions synced.",
            result.synced,
            serial=serial,
        )
        emit(out, as_json=as_json, text=text)


def _prompt_for(from_stdin: bool, t: Translator) -> Callable[[PinAsk], str | None]:
    if from_stdin:
        lines = _stdin_lines()
        pin = lines[0] if lines and lines[0] else None
        return lambda ask: pin
    if sys.stdin.isatty():
        return _terminal_prompt(t)
    return _no_terminal


@cli.command("change-pin")
def change_pin(
    serial: Annotated[str, typer.Argument(help="The cable's serial.")],
    pins_stdin: Annotated[
        bool,
        typer.Option(
            "--pins-stdin",
            help="Read two lines from stdin: the current PIN (empty if none is needed), "
            "then the new PIN.",
        ),
    ] = False,
    address: AddressOption = None,
    radio: RadioOption = None,
    home: HomeOption = None,
    lang: LangOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change the cable's PIN (P5): the current PIN is needed unless it is 0000 or allowed."""
    with _logged_in_app(home, lang, as_json=as_json) as (folder, state, t):
        serial = _serial(serial)
        current: str | None = None
        new: str | None = None
        prompt: Callable[[PinAsk], str | None] = _no_terminal
        if pins_stdin:
            lines = [*_stdin_lines(), "", ""]
            current, new = lines[0] or None, lines[1] or None
        else:
            prompt = _prompt_for(False, t)
        core, cloud = _core(
            folder,
            state,
            prompt=prompt,
            notice=_notice_printer(t, serial, as_json=as_json),
            radio=radio,
        )
        with cloud:
            result = core.change_pin(serial, current, new, address)
        emit(
            result.to_dict(),
            as_json=as_json,
            text=t.gettext(
                "The PIN of cable %(serial)s was changed. Other phones must enter it again.",
                serial=serial,
            ),
        )


tariff_cli = typer.Typer(
    no_args_is_help=True, help="Your electricity tariff, for the monthly reimbursement."
)
cli.add_typer(tariff_cli, name="tariff")


@tariff_cli.command("add")
def tariff_add(
    price: Annotated[
        str,
        typer.Option(
            "--price", help="EUR per kWh, gross, with a point or comma (e.g. 0.3275 or 0,3275)."
        ),
    ],
    valid_from: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    valid_to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD.")],
    document: Annotated[
        Path,
        typer.Option("--document", help="The proof (contract or bill): PDF, PNG or JPEG, <= 5 MB."),
    ],
    home: HomeOption = None,
    lang: LangOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store your tariff with its proof; your fleet manager verifies it (M2)."""
    with _logged_in_app(home, lang, as_json=as_json) as (_folder, state, t):
        try:
            opened = document.open("rb")
        except OSError as e:
            raise DocumentUnreadable(
                f"cannot read {document}: {e.strerror}; check the path", path=str(document)
            ) from e
        with opened, CloudClient(state.server or "", state.token) as cloud:
            try:
                tariff = cloud.add_tariff(
                    price=typed_price(price),
                    valid_from=valid_from,
                    valid_to=valid_to,
                    document=opened,
                    name=document.name,
                )
            except CloudRefused as e:
                if e.code != "invalid_request":
                    raise
                # The API's own check of the form's shape: for this command, price or dates.
                raise CloudRefused.kind("invalid_tariff")(e.message, **e.details) from e
        emit(
            tariff,
            as_json=as_json,
            text=lambda: t.gettext(
                "Tariff %(id)s stored: %(price)s EUR/kWh from %(start)s to %(end)s. Your fleet "
                "manager verifies it with the proof.",
                id=tariff.get("id", "?"),
                price=tariff.get("price", price),
                start=tariff.get("valid_from", valid_from),
                end=tariff.get("valid_to", valid_to),
            ),
        )


@cli.command("sessions")
def sessions(home: HomeOption = None, lang: LangOption = None, as_json: JsonOption = False) -> None:
    """List your synced charging sessions (as the cloud has them)."""
    with _logged_in_app(home, lang, as_json=as_json) as (_folder, state, t):
        with CloudClient(state.server or "", state.token) as cloud:
            items = cloud.sessions()
        if as_json:
            emit({"sessions": items, "count": len(items)}, as_json=True)
            return
        if not items:
            typer.echo(t.gettext("No sessions yet."))
            return
        _print_sessions(items)


def _when(value: Any) -> str:
    if not isinstance(value, int):
        return str(value)
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _print_sessions(items: list[dict[str, Any]]) -> None:
    table = Table("serial", "epoch", "seq", "start (UTC)", "end (UTC)", "Wh", "driver")
    for item in items:
        table.add_row(
            str(item.get("serial", "")),
            str(item.get("epoch", "")),
            str(item.get("seq", "")),
            _when(item.get("start")),
            _when(item.get("end")),
            str(item.get("wh", "")),
            str(item.get("driver_email", "")),
        )
    Console().print(table)
