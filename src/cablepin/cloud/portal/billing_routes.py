"""The fleet manager's reimbursement pages (M1, M2, M4): policy, tariffs, receipts.

The policy form also takes the debtor account transfers are paid from (M4);
the month's money out is ``portal/money_routes.py``.

Every action calls ``services.billing`` / ``services.receipts`` with the
signed-in fleet manager as actor, exactly as the JSON API does; the services
scope everything to the organisation, audit the decisions and are each one
unit of work (``@transactional``: committed when they return). A refusal
re-renders the page with the service's message (it says what to do).
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import ValidationError

from cablepin.cloud.billing_schemas import PolicyRequest
from cablepin.cloud.domain import billing as rules
from cablepin.cloud.errors import CloudError
from cablepin.cloud.headers import download_headers
from cablepin.cloud.portal.backend import billing, receipts
from cablepin.cloud.portal.forms import field, refusal_text
from cablepin.cloud.portal.i18n import N_, format_month
from cablepin.cloud.portal.web import (
    CsrfForm,
    Ctx,
    FleetCtx,
    PathId,
    PortalRoute,
    not_found,
    redirect,
    render,
)

__all__ = ["router"]

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

# ------------------------------------------------------------------ policy (M1)

POLICY_REFUSED = N_(
    "Choose a pricing method and a deadline day from 1 to 28; the account holder "
    "has at most 70 characters, the BIC 8 or 11. Then save again."
)


def _policy_page(ctx: Ctx, year: int, *, error: str | None = None, status: int = 200) -> Response:
    try:
        policy = billing.get_policy(ctx.db, ctx.actor, year)
    except CloudError:
        policy = None
    return render(
        ctx,
        "portal/billing_policy.html",
        status=status,
        title=ctx.gettext("Billing policy %(year)s", year=year),
        year=year,
        policy=policy,
        error=error,
    )


@router.get("/billing/policy/{year}")
def policy_page(ctx: FleetCtx, year: int) -> Response:
    if not 2000 <= year <= 2100:
        raise not_found()
    return _policy_page(ctx, year)


@router.post("/billing/policy/{year}")
def policy_save(ctx: FleetCtx, year: int, form: CsrfForm) -> Response:
    if not 2000 <= year <= 2100:
        raise not_found()
    try:
        request = PolicyRequest(
            method=field(form, "method"),
            deadline_day=int(field(form, "deadline_day") or "10"),
            recipient_email=field(form, "recipient_email") or None,
            wage_type=field(form, "wage_type") or None,
            debtor_name=field(form, "debtor_name") or None,
            debtor_iban=field(form, "debtor_iban") or None,
            debtor_bic=field(form, "debtor_bic") or None,
        )
    except ValidationError as e:
        if any(error["loc"] == ("recipient_email",) for error in e.errors()):
            message = N_(
                "Enter one e-mail address for the receipts, such as billing@example.com, "
                "then save again."
            )
        else:
            message = POLICY_REFUSED
        return _policy_page(ctx, year, error=ctx.gettext(message), status=422)
    except ValueError:
        return _policy_page(ctx, year, error=ctx.gettext(POLICY_REFUSED), status=422)
    try:
        billing.put_policy(ctx.db, ctx.actor, year, request, now=ctx.now)
    except CloudError as e:
        ctx.db.rollback()
        return _policy_page(ctx, year, error=refusal_text(ctx.translations, e), status=e.status)
    return redirect(ctx, f"/billing/policy/{year}?done=policy_saved")


# ------------------------------------------------------------------ tariffs (M2)


def _tariffs_page(ctx: Ctx, *, error: str | None = None, status: int = 200) -> Response:
    return render(
        ctx,
        "portal/billing_tariffs.html",
        status=status,
        title=ctx.gettext("Tariffs"),
        tariffs=billing.list_tariffs(ctx.db, ctx.actor).items,
        year=ctx.now.astimezone(rules.BILLING_ZONE).year,
        error=error,
    )


@router.get("/billing/tariffs")
def tariffs_page(ctx: FleetCtx) -> Response:
    return _tariffs_page(ctx)


@router.get("/billing/tariffs/{tariff_id}/document")
def tariff_document(ctx: FleetCtx, tariff_id: PathId) -> Response:
    try:
        content, media_type, name = billing.tariff_document(ctx.db, ctx.actor, tariff_id)
    except CloudError:
        raise not_found() from None
    return Response(
        content,
        media_type=media_type,
        headers=download_headers(name),
    )


@router.post("/billing/tariffs/{tariff_id}")
def tariff_decide(ctx: FleetCtx, tariff_id: PathId, form: CsrfForm) -> Response:
    verify = field(form, "action") == "verify"
    reason = field(form, "reason") or None
    if not verify and reason is None:
        return _tariffs_page(
            ctx,
            error=ctx.gettext("Give a reason for the rejection; the driver sees it."),
            status=422,
        )
    try:
        billing.decide_tariff(
            ctx.db, ctx.actor, tariff_id, verify=verify, reason=reason, now=ctx.now
        )
    except CloudError as e:
        ctx.db.rollback()
        return _tariffs_page(ctx, error=refusal_text(ctx.translations, e), status=e.status)
    return redirect(ctx, "/billing/tariffs?done=tariff_decided")


# ------------------------------------------------------------------ receipts (M4)


def _receipts_page(
    ctx: Ctx, month: str, *, error: str | None = None, status: int = 200
) -> Response:
    items = receipts.list_receipts(ctx.db, ctx.actor, month=month, reason=None, now=ctx.now).items
    return render(
        ctx,
        "portal/billing_receipts.html",
        status=status,
        title=ctx.gettext("Receipts %(month)s", month=format_month(month, ctx.locale)),
        month=month,
        receipts=items,
        error=error,
    )


@router.get("/billing/receipts")
def receipts_page(ctx: FleetCtx, month: str = "") -> Response:
    month = month or rules.previous_month(ctx.now)
    if not rules.is_month(month):
        raise not_found()
    return _receipts_page(ctx, month)


@router.post("/billing/receipts/{receipt_id}")
def receipt_decide(ctx: FleetCtx, receipt_id: PathId, form: CsrfForm) -> Response:
    month = field(form, "month")
    if not rules.is_month(month):
        month = rules.previous_month(ctx.now)
    approve = field(form, "action") == "approve"
    reason = field(form, "reason") or None
    if not approve and reason is None:
        return _receipts_page(
            ctx,
            month,
            error=ctx.gettext("Give a reason for the rejection; the driver sees it."),
            status=422,
        )
    try:
        receipts.decide(ctx.db, ctx.actor, receipt_id, approve=approve, reason=reason, now=ctx.now)
    except CloudError as e:
        ctx.db.rollback()
        return _receipts_page(ctx, month, error=refusal_text(ctx.translations, e), status=e.status)
    return redirect(ctx, f"/billing/receipts?month={month}&done=receipt_decided")


@router.get("/billing/receipts/{receipt_id}/pdf")
def receipt_pdf(ctx: FleetCtx, receipt_id: PathId) -> Response:
    try:
        content, name = receipts.pdf(ctx.db, ctx.actor, receipt_id, now=ctx.now)
    except CloudError:
        raise not_found() from None
    return Response(
        content,
        media_type="application/pdf",
        headers=download_headers(name),
    )
