"""Sign-in, sign-out, language choice and the driver's invitation page.

Passwords are checked and failed attempts throttled by ``services.accounts``,
the same code and the same database throttle as the API login. The portal
then keeps its own cookie session (``websession``), not a bearer token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import select

from cablepin.cloud.domain.actor import Role
from cablepin.cloud.errors import CloudError, TooManyAttempts, Unauthorized
from cablepin.cloud.models import User
from cablepin.cloud.portal import backend, i18n
from cablepin.cloud.portal.forms import field, refusal_text
from cablepin.cloud.portal.web import (
    LOCALE_COOKIE,
    CsrfForm,
    PortalCtx,
    PortalRoute,
    Refusal,
    UserCtx,
    is_https,
    redirect,
    render,
    safe_next,
    set_locale,
)
from cablepin.cloud.portal.websession import COOKIE, end_session, start_session

__all__ = ["router"]

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

MIN_PASSWORD = 10


def _home(user: User) -> str:
    return "/support" if user.role == Role.SUPPORT else "/"


@router.get("/signin")
def signin_page(ctx: PortalCtx, next: str = "/", expired: str = "", out: str = "") -> Response:
    if ctx.user is not None:
        return redirect(ctx, safe_next(next, _home(ctx.user)))
    notice = None
    if expired:
        notice = "signin.expired"
    elif out:
        notice = "signin.signed_out"
    elif safe_next(next) != "/":
        notice = "signin.required"
    return render(ctx, "portal/signin.html", notice=notice, next=safe_next(next), email="")


@router.post("/signin")
def signin(ctx: PortalCtx, form: CsrfForm) -> Response:
    email = field(form, "email")
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    target = safe_next(field(form, "next"))

    def again(status: int, error: str, **values: Any) -> Response:
        return render(
            ctx,
            "portal/signin.html",
            status=status,
            error=ctx.t(error, **values),
            next=target,
            email=email,
            notice=None,
        )

    if not email or not password:
        return again(422, "signin.missing")
    try:
        user = backend.authenticate(ctx.request, ctx.db, email, password, now=ctx.now)
    except TooManyAttempts as e:
        wait = int(e.details.get("retry_after_s", 60))
        ctx.extra_headers["Retry-After"] = str(wait)
        return again(429, "signin.throttled", seconds=wait)
    except Unauthorized:
        return again(401, "signin.failed")
    if user.role == Role.DRIVER:
        return again(403, "signin.driver")
    # The language chosen on the sign-in page is the user's latest choice (U1).
    chosen = i18n.normalise_locale(ctx.request.cookies.get(LOCALE_COOKIE))
    if chosen is not None and chosen != user.locale:
        set_locale(ctx.db, user, chosen)
    # A new session at every sign-in: a cookie planted before sign-in is worthless after.
    end_session(ctx.db, ctx.request.cookies.get(COOKIE))
    token = start_session(ctx.db, user, ctx.now)
    ctx.db.commit()
    response = redirect(ctx, target if target != "/" else _home(user))
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="lax", secure=is_https(ctx.request), path="/"
    )
    return response


@router.post("/signout")
def signout(ctx: UserCtx, form: CsrfForm) -> Response:
    end_session(ctx.db, ctx.request.cookies.get(COOKIE))
    ctx.db.commit()
    response = redirect(ctx, "/signin?out=1")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/lang/{code}")
def language(ctx: PortalCtx, code: str, next: str = "/") -> Response:
    locale = i18n.normalise_locale(code)
    if locale is None:
        raise Refusal(404, "error.not_found.title", "error.not_found")
    set_locale(ctx.db, ctx.user, locale)
    response = redirect(ctx, safe_next(next))
    response.set_cookie(
        LOCALE_COOKIE,
        locale,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=is_https(ctx.request),
        path="/",
    )
    return response


# ---------------------------------------------------------------- invitations


def _invite_page(ctx: PortalCtx, token: str, **values: Any) -> Response:
    invited = backend.invitation_user(ctx.db, token, now=ctx.now)
    if invited is None:
        return render(
            ctx,
            "portal/error.html",
            status=404,
            title=ctx.t("invite.title"),
            message=ctx.t("invite.invalid"),
            detail=None,
        )
    ctx.extra_headers["Referrer-Policy"] = "no-referrer"
    return render(ctx, "portal/invite.html", invited=invited, token=token, **values)


@router.get("/invite/{token}")
def invite_page(ctx: PortalCtx, token: str) -> Response:
    return _invite_page(ctx, token, error=None)


@router.post("/invite/{token}")
def invite_accept(ctx: PortalCtx, token: str, form: CsrfForm) -> Response:
    password = form.get("password")
    repeat = form.get("password2")
    password = password if isinstance(password, str) else ""
    if len(password) < MIN_PASSWORD:
        return _invite_page(ctx, token, error=ctx.t("invite.too_short"))
    if password != repeat:
        return _invite_page(ctx, token, error=ctx.t("invite.mismatch"))
    try:
        backend.accept_invitation(ctx.db, token, password, now=ctx.now)
    except CloudError as e:
        return _invite_page(ctx, token, error=refusal_text(ctx.locale, e))
    ctx.extra_headers["Referrer-Policy"] = "no-referrer"
    return render(
        ctx,
        "portal/message.html",
        title=ctx.t("invite.title"),
        message=ctx.t("invite.done"),
    )


def user_by_id(ctx: PortalCtx, user_id: int) -> User | None:
    return ctx.db.scalar(select(User).where(User.id == user_id))
