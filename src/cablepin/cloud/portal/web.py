"""The portal's request plumbing: database unit of work, who is signed in, CSRF, rendering.

Rules kept here:
- Every POST passes ``csrf_form``: a form without this session's token (or,
  before sign-in, the double-submit cookie) gets the 403 page and changes nothing.
  The one form that carries a file (a tariff's proof) passes ``csrf_upload``,
  the same check on a multipart body of at most ``MAX_UPLOAD`` bytes with at
  most one file; every other form takes no file at all.
- A page that needs a user and finds none redirects to sign-in; when a
  session cookie was sent but is no longer valid, the sign-in page says the
  session expired (U2) and returns to the page afterwards.
- Refusals become HTML pages here (``PortalRoute``), never JSON; so does any
  unexpected exception (a generic 500 page, details only in the server log).
- Numbers taken from a URL are bounded (``query_int``, ``PathId``): SQLite
  stores at most 64-bit integers, and an out-of-range value is the user's
  mistake (400/404 page), not a server error.
- Every response carries a strict CSP and ``no-store`` (set in one place,
  ``cloud/headers.py``): the portal needs no inline script, no third-party
  origin and no caching of fleet data.
- Every page is in one language (``i18n``): the signed-in user's saved
  choice, else the language cookie, else the browser's ``Accept-Language``,
  else German. Responses say ``Content-Language`` and ``Vary: Accept-Language``.
"""

from __future__ import annotations

import datetime as dt
import gettext as _gettext
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context
from jinja2.runtime import Context
from sqlalchemy import update
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from cablepin.cloud.deps import Db, get_now
from cablepin.cloud.domain.actor import Actor, Role
from cablepin.cloud.domain.billing import MAX_UPLOAD
from cablepin.cloud.errors import CloudError, NotFound
from cablepin.cloud.models import User
from cablepin.cloud.portal import i18n, labels
from cablepin.cloud.portal.i18n import DISPLAY_TZ, N_
from cablepin.cloud.portal.websession import (
    COOKIE,
    PRESESSION_COOKIE,
    ActiveSession,
    check_csrf,
    load_session,
    new_token,
)

__all__ = [
    "DISPLAY_TZ",
    "CsrfForm",
    "CsrfUpload",
    "Ctx",
    "Db",
    "DriverCtx",
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

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, extensions=["jinja2.ext.i18n"]
    )
)


# Templates call ``_``/``gettext``/``ngettext``/``pgettext``: each looks up the
# catalog of the page being rendered (``translations`` in its context), so
# one shared environment serves every language at once.
@pass_context
def _t_gettext(context: Context, message: str) -> str:
    return str(context["translations"].gettext(message))


@pass_context
def _t_ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return str(context["translations"].ngettext(singular, plural, n))


@pass_context
def _t_pgettext(context: Context, ctxt: str, message: str) -> str:
    return str(context["translations"].pgettext(ctxt, message))


@pass_context
def _t_npgettext(context: Context, ctxt: str, singular: str, plural: str, n: int) -> str:
    return str(context["translations"].npgettext(ctxt, singular, plural, n))


templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    _t_gettext, _t_ngettext, newstyle=True, pgettext=_t_pgettext, npgettext=_t_npgettext
)
log = logging.getLogger(__name__)

# The largest id or cursor a URL may carry: SQLite integers are signed 64-bit.
MAX_ID = 2**62

# The longest page address carried through sign-in (``?next=``).
MAX_NEXT = 2000

# A database id in a URL path; anything else (too large, negative) is a 404 page.
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


class Refusal(Exception):
    """Show the error page with ``status``; ``message`` (an English message id, marked
    with ``N_``) says what happened and what to do; it is translated on the page."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location
        self.clear_cookie = False


NOT_FOUND = (
    N_("Not found"),
    N_(
        "This page does not exist or does not belong to your organisation. Check the "
        "address or search the cable list."
    ),
)
BAD_LINK = N_(
    "Something in this address is invalid (for example a page number or "
    "organisation). Open the page again from the menu instead of editing the address."
)
FORBIDDEN = (
    N_("No access"),
    N_("Your role may not open this page. Ask your fleet manager if you need access."),
)
CSRF_REFUSED = (
    N_("Form refused"),
    N_(
        "The form arrived without a valid security token (it was too old or did not "
        "come from this portal). Nothing was changed. Reload the page and send the "
        "form again."
    ),
)
INTERNAL = (
    N_("Internal error"),
    N_(
        "Something went wrong on the server. Reload the page or try again in a few "
        "minutes; then check whether your last action took effect. If it happens again, "
        "contact support and tell them the time."
    ),
)
BAD_REQUEST = (
    N_("Invalid request"),
    N_("The request was incomplete or malformed. Reload the page and try again."),
)
UPLOAD_TOO_LARGE = (
    N_("File too large"),
    N_(
        "The file is larger than 5 MB, so nothing was stored. Go back and choose a smaller "
        "scan or PDF of the document."
    ),
)
FAILED = N_("That did not work")
UNAVAILABLE = N_("This action is not available right now. Try again later or contact support.")


def not_found() -> Refusal:
    return Refusal(404, *NOT_FOUND)


def bad_request(message: str) -> Refusal:
    """A 400 page: something in the address is malformed; the message says what to do."""
    return Refusal(400, BAD_REQUEST[0], message)


def query_int(text: str | None, *, message: str = BAD_LINK) -> int | None:
    """A whole number from the query string: empty -> ``None``; malformed or out of range -> 400.

    ``str.isdigit`` alone accepts "²" and other non-ASCII digits that ``int``
    refuses; anything beyond ``MAX_ID`` would overflow SQLite.
    """
    text = (text or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_ID):
        raise bad_request(message)
    return int(text)


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
    def translations(self) -> _gettext.NullTranslations:
        return catalogs(self.request).translations(self.locale)

    def gettext(self, message: str, **values: Any) -> str:
        """``message`` (an English message id) in this page's language, ``%(name)s`` filled in."""
        text = self.translations.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        """The form for ``n`` in this page's language; ``%(num)s`` is ``n``."""
        return self.translations.ngettext(singular, plural, n) % {"num": n, **values}

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


def catalogs(request: Request) -> i18n.Catalogs:
    """The app's catalogs (``app.state.catalogs`` when set, e.g. by a test), else the portal's."""
    found = getattr(request.app.state, "catalogs", None)
    return found if isinstance(found, i18n.Catalogs) else i18n.PORTAL


def request_locale(request: Request, saved: str | None = None) -> str:
    """The page's language: the user's saved choice, the cookie, the browser's, German."""
    offered = catalogs(request)
    return (
        offered.normalise(saved)
        or offered.normalise(request.cookies.get(LOCALE_COOKIE))
        or offered.first_offered(i18n.parse_accept_language(request.headers.get("accept-language")))
        or i18n.DEFAULT_LOCALE
    )


def get_ctx(request: Request, db: Db) -> Ctx:
    now = get_now(request)
    token = request.cookies.get(COOKIE)
    session = load_session(db, token, now)
    locale = request_locale(request, session.user.locale if session is not None else None)
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
    if ctx.user.role == Role.DRIVER:
        raise _Redirect("/me")
    if ctx.user.role != Role.FLEET_MANAGER or ctx.user.org_id is None:
        raise Refusal(403, *FORBIDDEN)
    return ctx


FleetCtx = Annotated[Ctx, Depends(require_fleet)]


def require_support(ctx: UserCtx) -> Ctx:
    assert ctx.user is not None
    if ctx.user.role != Role.SUPPORT:
        # Same answer as for any page that is not there: roles are not probed.
        raise not_found()
    return ctx


SupportCtx = Annotated[Ctx, Depends(require_support)]


def require_driver(ctx: UserCtx) -> Ctx:
    """The driver's own pages (M8): drivers only; they show nothing but the driver's data."""
    assert ctx.user is not None
    if ctx.user.role != Role.DRIVER or ctx.user.org_id is None:
        raise not_found()
    return ctx


DriverCtx = Annotated[Ctx, Depends(require_driver)]


async def _form(request: Request) -> FormData:
    return await request.form(max_files=0, max_fields=100)


async def _upload_form(request: Request) -> AsyncIterator[FormData]:
    """A multipart form with at most one file, its body at most ``MAX_UPLOAD`` bytes.

    A browser declares the length of the form it sends and the server reads no
    more than that, so the length is checked before anything is read or spooled.
    """
    length = request.headers.get("content-length", "")
    if not (length.isascii() and length.isdigit()):
        raise Refusal(411, *BAD_REQUEST)
    if int(length) > MAX_UPLOAD:
        raise Refusal(413, *UPLOAD_TOO_LARGE)
    form = await request.form(max_files=1, max_fields=20)
    try:
        yield form
    finally:
        await form.close()


def _checked(ctx: Ctx, form: FormData) -> FormData:
    sent = form.get("csrf_token")
    if not check_csrf(ctx.csrf, sent if isinstance(sent, str) else None):
        raise Refusal(403, *CSRF_REFUSED)
    return form


def csrf_form(ctx: PortalCtx, form: Annotated[FormData, Depends(_form)]) -> FormData:
    return _checked(ctx, form)


def csrf_upload(ctx: PortalCtx, form: Annotated[FormData, Depends(_upload_form)]) -> FormData:
    return _checked(ctx, form)


CsrfForm = Annotated[FormData, Depends(csrf_form)]
CsrfUpload = Annotated[FormData, Depends(csrf_upload)]


def safe_next(value: str | None, default: str = "/") -> str:
    """Only same-site paths: an attacker's link must not send a user elsewhere after sign-in."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(c) < 0x20 for c in value):
        return default
    return value


def _headers(response: Response, ctx: Ctx | None, locale: str | None = None) -> Response:
    # CSP, nosniff, framing, referrer and caching come from ``cloud/headers.py``.
    # The language may come from Accept-Language, so a shared cache must key on it.
    vary = [v.strip() for v in response.headers.get("Vary", "").split(",") if v.strip()]
    if "accept-language" not in {v.lower() for v in vary}:
        response.headers["Vary"] = ", ".join([*vary, "Accept-Language"])
    locale = locale or (ctx.locale if ctx is not None else None)
    if locale is not None:
        response.headers["Content-Language"] = locale
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
    """Cookies are ``Secure`` when this request came over HTTPS (behind a trusted proxy:
    its ``X-Forwarded-Proto``) or the deployment's public URL is HTTPS."""
    settings = getattr(request.app.state, "settings", None)
    public = str(getattr(settings, "public_url", ""))
    return request.url.scheme == "https" or public.startswith("https://")


def _fmt_time(ctx: Ctx) -> Callable[[dt.datetime | None], str]:
    def fmt(value: dt.datetime | None) -> str:
        if value is None:
            return ctx.gettext("never")
        return i18n.format_time(value, ctx.locale)

    return fmt


def _fmt_date(locale: str) -> Callable[[dt.datetime | None], str]:
    def fmt(value: dt.datetime | None) -> str:
        return "—" if value is None else i18n.format_date(value, locale)

    return fmt


def _fmt_money(locale: str) -> Callable[[str], str]:
    """A decimal amount in EUR (as the API writes it, e.g. "52.20") in the page's language."""

    def fmt(value: str) -> str:
        return i18n.format_eur(value, locale)

    return fmt


def _fmt_kwh(locale: str) -> Callable[[float], str]:
    def fmt(value: float) -> str:
        return i18n.format_kwh(value, locale)

    return fmt


def _label(ctx: Ctx, table: dict[Any, str]) -> Callable[[Any], str]:
    """A code's words in this page's language; a code without words shows as itself."""

    def label(code: Any) -> str:
        message = table.get(code)
        return ctx.gettext(message) if message is not None else str(code)

    return label


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
    offered = catalogs(request)
    context: dict[str, Any] = {
        "translations": ctx.translations,
        "locale": ctx.locale,
        "other_locales": [loc for loc in offered.locales if loc != ctx.locale],
        "language_name": offered.language_name,
        "user": ctx.user,
        "is_support": ctx.is_support,
        "csrf": ctx.csrf,
        "path": request.url.path,
        "here": request.url.path + ("?" + request.url.query if request.url.query else ""),
        "request_before": request.query_params.get("before"),
        "flash": labels.FLASH.get(flash) if flash else None,
        "fmt_time": _fmt_time(ctx),
        "fmt_date": _fmt_date(ctx.locale),
        "fmt_month": lambda month: i18n.format_month(month, ctx.locale),
        "fmt_kwh": _fmt_kwh(ctx.locale),
        "purpose_label": _label(ctx, labels.PURPOSE),
        "state_label": _label(ctx, labels.COMMAND_STATE),
        "billing_state": _label(ctx, labels.BILLING_STATE),
        "fmt_money": _fmt_money(ctx.locale),
        "filter_label": _label(ctx, labels.CABLE_FILTER),
        "action_label": _label(ctx, labels.AUDIT_ACTION),
        "url_with": lambda **changes: url_with(request, **changes),
        **values,
    }
    response = templates.TemplateResponse(request, template, context, status_code=status)
    return _headers(response, ctx)  # type: ignore[return-value]


def redirect(ctx: Ctx | None, location: str) -> RedirectResponse:
    response = RedirectResponse(location, status_code=303)
    _headers(response, ctx)
    return response


def error_page_for(request: Request, status: int, title: str, message: str) -> Response:
    """The error page in the request's language (no user is looked up: this must not fail)."""
    locale = request_locale(request)
    translations = catalogs(request).translations(locale)
    response = templates.TemplateResponse(
        request,
        "portal/error.html",
        {
            "translations": translations,
            "locale": locale,
            "other_locales": [],
            "user": None,
            "is_support": False,
            "csrf": "",
            "path": request.url.path,
            "here": "/",
            "flash": None,
            "title": translations.gettext(title),
            "message": translations.gettext(message),
            "detail": None,
        },
        status_code=status,
    )
    return _headers(response, None, locale)


def clouderror_page_for(ctx: Ctx, error: CloudError) -> HTMLResponse:
    """A refusal from the services, shown with its own message (it says what to do next)."""
    return render(
        ctx,
        "portal/error.html",
        status=error.status,
        title=ctx.gettext(FAILED),
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
                return error_page_for(request, r.status, r.title, r.message)
            except RequestValidationError:
                return error_page_for(request, 404, *NOT_FOUND)
            except CloudError as e:
                # A refusal no page caught: still a page, in the user's language.
                if isinstance(e, NotFound):
                    return error_page_for(request, 404, *NOT_FOUND)
                return error_page_for(request, e.status, FAILED, UNAVAILABLE)
            except StarletteHTTPException as e:
                # e.g. a malformed form body; the framework would answer JSON.
                if e.status_code == 404:
                    return error_page_for(request, 404, *NOT_FOUND)
                if e.status_code >= 500:
                    log.error(
                        "portal %s %s: HTTP %s", request.method, request.url.path, e.status_code
                    )
                    return error_page_for(request, 500, *INTERNAL)
                return error_page_for(request, e.status_code, *BAD_REQUEST)
            except Exception:
                # A bug, not a refusal: a generic page; the details go to the log only.
                log.exception("portal %s %s failed", request.method, request.url.path)
                return error_page_for(request, 500, *INTERNAL)

        return portal_handler


def set_locale(db: Session, user: User | None, locale: str) -> None:
    if user is not None:
        db.execute(update(User).where(User.id == user.id).values(locale=locale))
