"""Sign-in, sign-out, language choice and the driver's invitation page.

Passwords are checked and failed attempts throttled by ``services.accounts``,
the same code and the same database throttle as the API login. The portal
then keeps its own cookie session (``websession``), not a bearer token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import select

from cablepin.cloud.domain import password_policy
from cablepin.cloud.domain.actor import Role
from cablepin.cloud.errors import (
    CloudError,
    InvalidRequest,
    TooManyAttempts,
    Unauthorized,
    WeakPassword,
)
from cablepin.cloud.models import User
from cablepin.cloud.portal import backend
from cablepin.cloud.portal.forms import field, refusal_text
from cablepin.cloud.portal.i18n import N_
from cablepin.cloud.portal.web import (
    BAD_REQUEST,
    LOCALE_COOKIE,
    CsrfForm,
    PortalCtx,
    PortalRoute,
    Refusal,
    UserCtx,
    catalogs,
    is_https,
    redirect,
    render,
    safe_next,
    set_locale,
)
from cablepin.cloud.portal.websession import COOKIE, SESSION_TTL, end_session, start_session

__all__ = ["router"]

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

# Why the one password policy (domain/password_policy.py) refused, in the user's words.
POLICY_TEXT: dict[password_policy.Refusal, str] = {
    password_policy.Refusal.TOO_SHORT: N_(
        "The password is too short: please use at least 15 characters. A few unrelated words "
        "make a long password that is easy to remember."
    ),
    password_policy.Refusal.TOO_LONG: N_(
        "The password is too long: please use at most 128 characters."
    ),
    password_policy.Refusal.COMMON: N_(
        "This password is on the list of common or already stolen passwords, or is easily "
        "derived from one. Please choose another."
    ),
    password_policy.Refusal.PERSONAL: N_(
        "This password is built from your e-mail address or name. Please choose one that has "
        "nothing to do with them."
    ),
}


def _home(user: User) -> str:
    if user.role == Role.DRIVER:
        return "/me"
    return "/support" if user.role == Role.SUPPORT else "/"


@router.get("/signin")
def signin_page(ctx: PortalCtx, next: str = "/", expired: str = "", out: str = "") -> Response:
    if ctx.user is not None:
        return redirect(ctx, safe_next(next, _home(ctx.user)))
    notice = None
    if expired:
        notice = N_(
            "Your session has expired. Please sign in again; you will return to the page you were "
            "on."
        )
    elif out:
        notice = N_("You have signed out.")
    elif safe_next(next) != "/":
        notice = N_("Please sign in to see this page.")
    return render(ctx, "portal/signin.html", notice=notice, next=safe_next(next), email="")


@router.post("/signin")
def signin(ctx: PortalCtx, form: CsrfForm) -> Response:
    email = field(form, "email")
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    target = safe_next(field(form, "next"))

    def again(status: int, error: str) -> Response:
        return render(
            ctx,
            "portal/signin.html",
            status=status,
            error=error,
            next=target,
            email=email,
            notice=None,
        )

    if not email or not password:
        return again(422, ctx.gettext("Please enter your e-mail address and password."))
    try:
        user = backend.authenticate(ctx.request, ctx.db, email, password, now=ctx.now)
    except TooManyAttempts as e:
        wait = int(e.details.get("retry_after_s", 60))
        ctx.extra_headers["Retry-After"] = str(wait)
        return again(
            429,
            ctx.ngettext(
                "Too many failed sign-ins. Wait %(num)s second, then try again.",
                "Too many failed sign-ins. Wait %(num)s seconds, then try again.",
                wait,
            ),
        )
    except Unauthorized:
        return again(
            401, ctx.gettext("The e-mail address or password is wrong. Check both and try again.")
        )
    except InvalidRequest:
        return again(
            422,
            ctx.gettext(
                "That is not an e-mail address. Sign in with the e-mail address of your account."
            ),
        )
    # The language chosen on the sign-in page is the user's latest choice (U1).
    chosen = catalogs(ctx.request).normalise(ctx.request.cookies.get(LOCALE_COOKIE))
    if chosen is not None and chosen != user.locale:
        set_locale(ctx.db, user, chosen)
    # A new session at every sign-in: a cookie planted before sign-in is worthless after.
    end_session(ctx.db, ctx.request.cookies.get(COOKIE))
    token = start_session(ctx.db, user, ctx.now)
    response = redirect(ctx, target if target != "/" else _home(user))
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=is_https(ctx.request),
        path="/",
    )
    # This browser is now a known device of the account: the throttle counts its
    # attempts on their own, so a stranger's guesses cannot lock it out.
    known = backend.device_cookie(ctx.request, user)
    if known is not None:
        response.set_cookie(
            backend.DEVICE_COOKIE,
            known,
            max_age=backend.DEVICE_COOKIE_MAX_AGE,
            httponly=True,
            samesite="strict",
            secure=is_https(ctx.request),
            path="/signin",
        )
    return response


@router.post("/signout")
def signout(ctx: UserCtx, form: CsrfForm) -> Response:
    end_session(ctx.db, ctx.request.cookies.get(COOKIE))
    response = redirect(ctx, "/signin?out=1")
    response.delete_cookie(COOKIE, path="/")
    return response


UNKNOWN_LANGUAGE = N_(
    "This language is not offered. Choose one of the languages at the top of the page."
)


@router.post("/lang")
def language(ctx: PortalCtx, form: CsrfForm) -> Response:
    """Change the language: a POST with the CSRF token (it changes stored state)."""
    locale = catalogs(ctx.request).normalise(field(form, "lang"))
    if locale is None:
        raise Refusal(400, BAD_REQUEST[0], UNKNOWN_LANGUAGE)
    set_locale(ctx.db, ctx.user, locale)
    response = redirect(ctx, safe_next(field(form, "back")))
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
            title=ctx.gettext("Set your password"),
            message=ctx.gettext(
                "This invitation link is invalid, already used or expired. Ask your fleet manager "
                "for a new link."
            ),
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
    if len(password) < password_policy.MIN_LENGTH:
        refusal = password_policy.Refusal.TOO_SHORT
        return _invite_page(ctx, token, error=ctx.gettext(POLICY_TEXT[refusal]))
    if password != repeat:
        return _invite_page(
            ctx,
            token,
            error=ctx.gettext("The two passwords do not match. Please enter both again."),
        )
    try:
        user = backend.accept_invitation(ctx.db, token, password, now=ctx.now)
    except WeakPassword as e:
        # The one policy decided; say its reason in the user's words.
        refusal = password_policy.Refusal(e.details["reason"])
        return _invite_page(ctx, token, error=ctx.gettext(POLICY_TEXT[refusal]))
    except CloudError as e:
        return _invite_page(ctx, token, error=refusal_text(ctx.translations, e))
    # The language the invitation was read in is the user's first saved choice (U1): an
    # English browser keeps English after sign-in instead of the account's default.
    set_locale(ctx.db, user, ctx.locale)
    ctx.extra_headers["Referrer-Policy"] = "no-referrer"
    return render(
        ctx,
        "portal/message.html",
        title=ctx.gettext("Set your password"),
        message=ctx.gettext("Your password is saved. Now sign in to the cablepin app."),
    )


def user_by_id(ctx: PortalCtx, user_id: int) -> User | None:
    return ctx.db.scalar(select(User).where(User.id == user_id))
