"""The portal's request plumbing: database unit of work, who is signed in, CSRF, rendering.

Rules kept here:
- Every POST passes ``csrf_form``: a form without this session's token (or,
  before sign-in, the double-submit cookie) gets the 403 page and changes nothing.
- A page that needs a user and finds none redirects to sign-in; when a
  session cookie was sent but is no longer valid, the sign-in page says the
  session expired (U2) and returns to the page afterwards.
- Refusals become HTML pages here (``PortalRoute``), never JSON; so does any
  unexpected exception (a generic 500 page, details only in the server log).
- Numbers taken from a URL are bounded (``query_int``, ``PathId``): SQLite
  stores at most 64-bit integers, and an out-of-range value is the user's
  mistake (400/404 page), not a server error.
- Every response carries a strict CSP and ``no-store``: the portal needs no
  inline script, no third-party origin and no caching of fleet data.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.errors import CloudError, NotFound
from cablepin.cloud.models import User
from cablepin.cloud.portal import i18n
from cablepin.cloud.portal.websession import (
    COOKIE,
    PRESESSION_COOKIE,
    ActiveSession,
    check_csrf,
    load_session,
    new_token,
)

__all__ = [
    "CsrfForm",
    "Ctx",
    "Db",
    "FleetCtx",
    "PathId",
    "PortalCtx",
    "PortalRoute",
    "Refusal",
    "SupportCtx",
    "UserCtx",
    "bad_request",
    "query_int",
    "redirect",
    "render",
    "safe_next",
]

TEMPLATES = FsPath(__file__).resolve().parent.parent / "templates"
LOCALE_COOKIE = "cablepin_lang"
DISPLAY_TZ = ZoneInfo("Europe/Berlin")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

templates = Jinja2Templates(directory=str(TEMPLATES))
log = logging.getLogger(__name__)

# The largest id or cursor a URL may carry: SQLite integers are signed 64-bit.
MAX_ID = 2**62

# The longest page address carried through sign-in (``?next=``).
MAX_NEXT = 2000

# A database id in a URL path; anything else (too large, negative) is a 404 page.
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


class Refusal(Exception):
    """Show the error page with ``status``; ``message_key`` says what happened and what to do."""

    def __init__(self, status: int, title_key: str, message_key: str) -> None:
        super().__init__(message_key)
        self.status = status
        self.title_key = title_key
        self.message_key = message_key


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location
        self.clear_cookie = False


NOT_FOUND = ("error.not_found.title", "error.not_found")


def not_found() -> Refusal:
    return Refusal(404, *NOT_FOUND)


def bad_request(message_key: str) -> Refusal:
    """A 400 page: something in the address is malformed; the message says what to do."""
    return Refusal(400, "error.bad_request.title", message_key)


def query_int(text: str | None, *, message_key: str = "error.bad_link") -> int | None:
    """A whole number from the query string: empty -> ``None``; malformed or out of range -> 400.

    ``str.isdigit`` alone accepts "²" and other non-ASCII digits that ``int``
    refuses; anything beyond ``MAX_ID`` would overflow SQLite.
    """
    text = (text or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_ID):
        raise bad_request(message_key)
    return int(text)


def _now(request: Request) -> dt.datetime:
    clock = getattr(request.app.state, "clock", None)
    now = clock() if callable(clock) else dt.datetime.now(dt.UTC)
    assert isinstance(now, dt.datetime)
    return now


def _sessionmaker(request: Request) -> sessionmaker[Session]:
    state = request.app.state
    for name in ("sessionmaker", "session_factory", "db_sessionmaker"):
        factory = getattr(state, name, None)
        if isinstance(factory, sessionmaker):
            return factory
    engine = getattr(state, "engine", None)
    if isinstance(engine, Engine):
        factory = sessionmaker(engine, expire_on_commit=False)
        state.sessionmaker = factory
        return factory
    raise RuntimeError("the app has no database; create_app must set app.state.sessionmaker")


def get_db(request: Request) -> Iterator[Session]:
    with _sessionmaker(request)() as db:
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise


Db = Annotated[Session, Depends(get_db, scope="function")]


@dataclass
class Ctx:
    """Everything a portal page needs about this request."""

    request: Request
    db: Session
    now: dt.datetime
    locale: str
    session: ActiveSession | None
    cookie_sent: bool
    presession: str
    set_presession: bool
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def t(self) -> i18n.Translator:
        return i18n.translator(self.locale)

    @property
    def user(self) -> User | None:
        return self.session.user if self.session else None

    @property
    def csrf(self) -> str:
        return self.session.csrf_token if self.session else self.presession

    @property
    def actor(self) -> Actor:
        user = self.user
        assert user is not None
        return Actor(
            id=user.id, email=user.email, name=user.name, role=Role(user.role), org_id=user.org_id
        )

    @property
    def org_id(self) -> int:
        user = self.user
        assert user is not None
        assert user.org_id is not None
        return user.org_id

    @property
    def is_support(self) -> bool:
        return self.user is not None and self.user.role == Role.SUPPORT


def get_ctx(request: Request, db: Db) -> Ctx:
    now = _now(request)
    token = request.cookies.get(COOKIE)
    session = load_session(db, token, now)
    cookie_locale = i18n.normalise_locale(request.cookies.get(LOCALE_COOKIE))
    if session is not None:
        locale = i18n.normalise_locale(session.user.locale) or i18n.DEFAULT_LOCALE
    else:
        locale = cookie_locale or i18n.DEFAULT_LOCALE
    presession = request.cookies.get(PRESESSION_COOKIE) or ""
    set_presession = session is None and not (16 <= len(presession) <= 128)
    if set_presession:
        presession = new_token()
    return Ctx(
        request=request,
        db=db,
        now=now,
        locale=locale,
        session=session,
        cookie_sent=bool(token),
        presession=presession,
        set_presession=set_presession,
    )


PortalCtx = Annotated[Ctx, Depends(get_ctx)]


def _signin_redirect(ctx: Ctx) -> _Redirect:
    request = ctx.request
    target = request.url.path
    if request.url.query and request.method == "GET":
        target += "?" + request.url.query
    if len(target) > MAX_NEXT:
        # Too long to carry through a Location header: come back to the page, not its query.
        target = request.url.path if len(request.url.path) <= MAX_NEXT else "/"
    params = {"next": target}
    if ctx.cookie_sent:
        params["expired"] = "1"
    redirect_to = _Redirect("/signin?" + urlencode(params))
    redirect_to.clear_cookie = ctx.cookie_sent
    return redirect_to


def require_user(ctx: PortalCtx) -> Ctx:
    if ctx.session is None:
        raise _signin_redirect(ctx)
    return ctx


UserCtx = Annotated[Ctx, Depends(require_user)]


def require_fleet(ctx: UserCtx) -> Ctx:
    """Fleet pages: fleet managers only (support works in the support console)."""
    assert ctx.user is not None
    if ctx.user.role == Role.SUPPORT:
        raise _Redirect("/support")
    if ctx.user.role != Role.FLEET_MANAGER or ctx.user.org_id is None:
        raise Refusal(403, "error.forbidden.title", "error.forbidden")
    return ctx


FleetCtx = Annotated[Ctx, Depends(require_fleet)]


def require_support(ctx: UserCtx) -> Ctx:
    assert ctx.user is not None
    if ctx.user.role != Role.SUPPORT:
        # Same answer as for any page that is not there: roles are not probed.
        raise not_found()
    return ctx


SupportCtx = Annotated[Ctx, Depends(require_support)]


async def _form(request: Request) -> FormData:
    return await request.form(max_files=0, max_fields=100)


def csrf_form(ctx: PortalCtx, form: Annotated[FormData, Depends(_form)]) -> FormData:
    sent = form.get("csrf_token")
    if not check_csrf(ctx.csrf, sent if isinstance(sent, str) else None):
        raise Refusal(403, "error.csrf.title", "error.csrf")
    return form


CsrfForm = Annotated[FormData, Depends(csrf_form)]


def safe_next(value: str | None, default: str = "/") -> str:
    """Only same-site paths: an attacker's link must not send a user elsewhere after sign-in."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(c) < 0x20 for c in value):
        return default
    return value


def _headers(response: Response, ctx: Ctx | None) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")
    if ctx is not None:
        for name, value in ctx.extra_headers.items():
            response.headers[name] = value
        if ctx.set_presession:
            response.set_cookie(
                PRESESSION_COOKIE,
                ctx.presession,
                httponly=True,
                samesite="strict",
                secure=is_https(ctx.request),
                path="/",
            )
    return response


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def _fmt_time(locale: str) -> Callable[[dt.datetime | None], str]:
    def fmt(value: dt.datetime | None) -> str:
        if value is None:
            return i18n.translator(locale)("never")
        local = value.astimezone(DISPLAY_TZ)
        return (
            local.strftime("%d.%m.%Y %H:%M") if locale == "de" else local.strftime("%Y-%m-%d %H:%M")
        )

    return fmt


def _fmt_date(locale: str) -> Callable[[dt.datetime | None], str]:
    def fmt(value: dt.datetime | None) -> str:
        if value is None:
            return "—"
        local = value.astimezone(DISPLAY_TZ)
        return local.strftime("%d.%m.%Y") if locale == "de" else local.strftime("%Y-%m-%d")

    return fmt


def _fmt_kwh(locale: str) -> Callable[[float], str]:
    def fmt(value: float) -> str:
        text = f"{value:,.1f}"
        if locale == "de":
            text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
        return text

    return fmt


def url_with(request: Request, **changes: Any) -> str:
    """The current URL with some query parameters changed (``None`` removes one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return request.url.path + ("?" + query if query else "")


def render(ctx: Ctx, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    request = ctx.request
    flash = request.query_params.get("done")
    context: dict[str, Any] = {
        "t": ctx.t,
        "locale": ctx.locale,
        "other_locales": [loc for loc in i18n.LOCALES if loc != ctx.locale],
        "language_names": i18n.LANGUAGE_NAMES,
        "user": ctx.user,
        "is_support": ctx.is_support,
        "csrf": ctx.csrf,
        "path": request.url.path,
        "here": request.url.path + ("?" + request.url.query if request.url.query else ""),
        "request_before": request.query_params.get("before"),
        "flash": f"done.{flash}" if flash and f"done.{flash}" in i18n.CATALOG else None,
        "fmt_time": _fmt_time(ctx.locale),
        "fmt_date": _fmt_date(ctx.locale),
        "fmt_kwh": _fmt_kwh(ctx.locale),
        "url_with": lambda **changes: url_with(request, **changes),
        **values,
    }
    response = templates.TemplateResponse(request, template, context, status_code=status)
    return _headers(response, ctx)  # type: ignore[return-value]


def redirect(ctx: Ctx | None, location: str) -> RedirectResponse:
    response = RedirectResponse(location, status_code=303)
    _headers(response, ctx)
    return response


def error_page_for(request: Request, status: int, title_key: str, message_key: str) -> Response:
    locale = i18n.normalise_locale(request.cookies.get(LOCALE_COOKIE)) or i18n.DEFAULT_LOCALE
    t = i18n.translator(locale)
    response = templates.TemplateResponse(
        request,
        "portal/error.html",
        {
            "t": t,
            "locale": locale,
            "other_locales": [],
            "language_names": i18n.LANGUAGE_NAMES,
            "user": None,
            "is_support": False,
            "csrf": "",
            "path": request.url.path,
            "here": "/",
            "flash": None,
            "title": t(title_key),
            "message": t(message_key),
            "detail": None,
        },
        status_code=status,
    )
    return _headers(response, None)


def clouderror_page_for(ctx: Ctx, error: CloudError) -> HTMLResponse:
    """A refusal from the services, shown with its own message (it says what to do next)."""
    return render(
        ctx,
        "portal/error.html",
        status=error.status,
        title=ctx.t("error.title"),
        message=error.message,
        detail=None,
    )


class PortalRoute(APIRoute):
    """Turns refusals, redirects and malformed requests into pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def portal_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except _Redirect as r:
                response = RedirectResponse(r.location, status_code=303)
                if r.clear_cookie:
                    response.delete_cookie(COOKIE, path="/")
                return _headers(response, None)
            except Refusal as r:
                return error_page_for(request, r.status, r.title_key, r.message_key)
            except RequestValidationError:
                return error_page_for(request, 404, *NOT_FOUND)
            except CloudError as e:
                # A refusal no page caught: still a page, in the user's language.
                if isinstance(e, NotFound):
                    return error_page_for(request, 404, *NOT_FOUND)
                return error_page_for(request, e.status, "error.title", "error.unavailable")
            except StarletteHTTPException as e:
                # e.g. a malformed form body; the framework would answer JSON.
                if e.status_code == 404:
                    return error_page_for(request, 404, *NOT_FOUND)
                if e.status_code >= 500:
                    log.error(
                        "portal %s %s: HTTP %s", request.method, request.url.path, e.status_code
                    )
                    return error_page_for(request, 500, "error.internal.title", "error.internal")
                return error_page_for(
                    request, e.status_code, "error.bad_request.title", "error.bad_request"
                )
            except Exception:
                # A bug, not a refusal: a generic page; the details go to the log only.
                log.exception("portal %s %s failed", request.method, request.url.path)
                return error_page_for(request, 500, "error.internal.title", "error.internal")

        return portal_handler


def set_locale(db: Session, user: User | None, locale: str) -> None:
    if user is not None:
        db.execute(update(User).where(User.id == user.id).values(locale=locale))
