"""Money out (M4) in the portal: the driver's bank details and the fleet manager's payouts.

Rules kept here:

* ``/me/bank`` is the driver's own form (made for a phone): the IBAN is shown
  in full only there, to its owner; every fleet page shows it masked.
* ``/billing/payouts`` is a month's money out: the payroll file, the
  transfer files made so far (each can be downloaded again), the receipts
  still to pay and those that wait for their driver's IBAN. Making a transfer
  marks receipts paid, so it is a CSRF-protected POST; the file itself is then
  a plain download of the stored run.
* Everything goes through ``services.payouts``, exactly as the JSON API does.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import ValidationError

from cablepin.cloud.billing_schemas import BankRequest
from cablepin.cloud.domain import billing as rules
from cablepin.cloud.errors import CloudError
from cablepin.cloud.headers import download_headers
from cablepin.cloud.portal.backend import bank_key, payouts
from cablepin.cloud.portal.forms import field, refusal_text
from cablepin.cloud.portal.i18n import format_month
from cablepin.cloud.portal.web import (
    CsrfForm,
    Ctx,
    DriverCtx,
    FleetCtx,
    PathId,
    PortalRoute,
    not_found,
    redirect,
    render,
)

__all__ = ["router"]

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


# ------------------------------------------------------------------ the driver's bank details


def _bank_page(
    ctx: Ctx,
    *,
    error: str | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    bank = payouts.get_bank(ctx.db, ctx.actor, key=bank_key(ctx.request))
    return render(
        ctx,
        "portal/me_bank.html",
        status=status,
        title=ctx.gettext("My bank details"),
        bank=bank,
        typed=typed or {"iban": bank.iban or "", "holder": bank.holder or ""},
        error=error,
    )


@router.get("/me/bank")
def bank_page(ctx: DriverCtx) -> Response:
    return _bank_page(ctx)


@router.post("/me/bank")
def bank_save(ctx: DriverCtx, form: CsrfForm) -> Response:
    typed = {"iban": field(form, "iban"), "holder": field(form, "holder")}
    try:
        request = BankRequest(iban=typed["iban"], holder=typed["holder"] or None)
    except ValidationError:
        return _bank_page(
            ctx,
            error=ctx.gettext(
                "Enter your IBAN (15 to 34 letters and digits, spaces allowed) and, if the "
                "account is not in your name, the holder (at most 70 characters)."
            ),
            typed=typed,
            status=422,
        )
    try:
        payouts.set_bank(ctx.db, ctx.actor, request, key=bank_key(ctx.request), now=ctx.now)
    except CloudError as e:
        ctx.db.rollback()
        return _bank_page(
            ctx, error=refusal_text(ctx.translations, e), typed=typed, status=e.status
        )
    return redirect(ctx, "/me/bank?done=bank_saved")


# ------------------------------------------------------------------ the month's money out


def _payouts_page(ctx: Ctx, month: str, *, error: str | None = None, status: int = 200) -> Response:
    return render(
        ctx,
        "portal/billing_payouts.html",
        status=status,
        title=ctx.gettext("Money out %(month)s", month=format_month(month, ctx.locale)),
        month=month,
        payouts=payouts.month_payouts(ctx.db, ctx.actor, month),
        error=error,
    )


def _month(text: str) -> str:
    if not rules.is_month(text):
        raise not_found()
    return text


@router.get("/billing/payouts")
def payouts_page(ctx: FleetCtx, month: str = "") -> Response:
    return _payouts_page(ctx, _month(month or rules.previous_month(ctx.now)))


@router.post("/billing/payouts/{month}/transfer")
def make_transfer(ctx: FleetCtx, month: str, form: CsrfForm) -> Response:
    month = _month(month)
    try:
        paid = payouts.pay_month(ctx.db, ctx.actor, month, key=bank_key(ctx.request), now=ctx.now)
    except CloudError as e:
        ctx.db.rollback()
        return _payouts_page(ctx, month, error=refusal_text(ctx.translations, e), status=e.status)
    return redirect(ctx, f"/billing/payouts?month={month}&done=transfer_made#run-{paid.run_id}")


@router.get("/billing/payouts/{month}/payroll.csv")
def payroll_csv(ctx: FleetCtx, month: str) -> Response:
    body, name = payouts.payroll_csv(ctx.db, ctx.actor, _month(month))
    return Response(
        body.encode(),
        media_type="text/csv; charset=utf-8",
        headers=download_headers(name),
    )


@router.get("/billing/payment-runs/{run_id}/sepa.xml")
def run_file(ctx: FleetCtx, run_id: PathId) -> Response:
    try:
        document, name = payouts.run_document(
            ctx.db, ctx.actor, run_id, key=bank_key(ctx.request), now=ctx.now
        )
    except CloudError:
        raise not_found() from None
    return Response(
        document,
        media_type="application/xml",
        headers=download_headers(name),
    )
