"""The driver's own pages (M8), made for a phone: cables, sessions by month, tariffs, receipts.

Rules kept here:

* Every page runs as the signed-in driver (``DriverCtx``) and reads through
  the same services as the JSON API (``services.receipts``, ``services.billing``),
  which scope every query to that driver: no page takes another user's id.
* The month view lists the month's sessions with the price each gets; the
  driver unticks the ones that are not reimbursable, previews the total and
  submits. Both buttons are one CSRF-protected form; the preview changes nothing.
* A tariff is uploaded with its proof (``/me/tariffs``, multipart with CSRF)
  and checked by the service the API's ``POST /api/v1/me/tariffs`` calls
  (dates, size, type by content, price, overlap): one rule, and its refusal in
  the page's language. A German price may be written with a decimal comma.
* The receipt PDF is the one of ``GET /api/v1/receipts/{id}/pdf``; the data
  export (D1) the one of ``GET /api/v1/me/export``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from fastapi import APIRouter, Response
from starlette.datastructures import FormData

from cablepin.cloud.billing_schemas import MonthView, ReceiptSubmit
from cablepin.cloud.domain import billing as rules
from cablepin.cloud.errors import CloudError
from cablepin.cloud.headers import download_headers
from cablepin.cloud.portal import queries
from cablepin.cloud.portal.backend import billing, payouts, privacy, receipts
from cablepin.cloud.portal.forms import field, refusal_text, upload, values
from cablepin.cloud.portal.i18n import N_, format_month, format_time
from cablepin.cloud.portal.web import (
    CsrfForm,
    CsrfUpload,
    Ctx,
    DriverCtx,
    PathId,
    PortalRoute,
    not_found,
    redirect,
    render,
)
from cablepin.evidence.money import amount_for, money_text, parse_price, typed_price

__all__ = ["router"]

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


def _price_text(ctx: Ctx) -> Callable[[str], str]:
    """A price as the API writes it ("0.3275"), with the page language's decimal sign."""
    return lambda text: text.replace(".", ",") if ctx.locale == "de" else text


def _month(text: str) -> str:
    if not rules.is_month(text):
        raise not_found()
    return text


@router.get("/me")
def home(ctx: DriverCtx) -> Response:
    actor = ctx.actor
    months = queries.sessions_by_month(ctx.db, actor.id, ctx.now, months=6)
    return render(
        ctx,
        "portal/me.html",
        title=ctx.gettext("My charging"),
        cables=queries.driver_cables(ctx.db, actor.id, limit=20),
        months=list(reversed(months)),
        previous=rules.previous_month(ctx.now),
        tariffs=billing.list_tariffs(ctx.db, actor).items,
        receipts=receipts.my_receipts(ctx.db, actor).items,
        fmt_price=_price_text(ctx),
        bank_masked=getattr(payouts.account_of(ctx.db, actor.id), "iban_masked", None),
    )


def _month_page(
    ctx: Ctx,
    view: MonthView,
    *,
    chosen: set[int] | None,
    preview: bool,
    error: str | None = None,
    status: int = 200,
) -> Response:
    open_sessions = [s for s in view.sessions if s.receipt_id is None]
    selected = [s for s in open_sessions if chosen is None or s.id in chosen]
    priced = [(s.wh, parse_price(s.price)) for s in selected if s.price is not None]
    total: Decimal | None = amount_for(priced) if len(priced) == len(selected) else None
    return render(
        ctx,
        "portal/me_month.html",
        status=status,
        title=ctx.gettext("My sessions in %(month)s", month=format_month(view.month, ctx.locale)),
        view=view,
        chosen={s.id for s in selected},
        preview=preview,
        selected_count=len(selected),
        selected_wh=sum(s.wh for s in selected),
        total=money_text(total) if total is not None else None,
        error=error,
        fmt_ts=lambda seconds: format_time(dt.datetime.fromtimestamp(seconds, dt.UTC), ctx.locale),
        fmt_price=_price_text(ctx),
    )


@router.get("/me/months/{month}")
def month_page(ctx: DriverCtx, month: str) -> Response:
    view = receipts.month_view(ctx.db, ctx.actor, _month(month), now=ctx.now)
    return _month_page(ctx, view, chosen=None, preview=False)


def _chosen(form: FormData) -> set[int]:
    ids: set[int] = set()
    for value in form.getlist("session"):
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 12:
            ids.add(int(value))
    return ids


@router.post("/me/months/{month}")
def month_submit(ctx: DriverCtx, month: str, form: CsrfForm) -> Response:
    month = _month(month)
    view = receipts.month_view(ctx.db, ctx.actor, month, now=ctx.now)
    chosen = _chosen(form)
    if field(form, "action") != "submit":
        return _month_page(ctx, view, chosen=chosen, preview=True)
    exclude = [s.id for s in view.sessions if s.receipt_id is None and s.id not in chosen]
    try:
        receipts.submit(ctx.db, ctx.actor, ReceiptSubmit(month=month, exclude=exclude), now=ctx.now)
    except CloudError as e:
        ctx.db.rollback()
        view = receipts.month_view(ctx.db, ctx.actor, month, now=ctx.now)
        return _month_page(
            ctx,
            view,
            chosen=chosen,
            preview=True,
            error=refusal_text(ctx.translations, e),
            status=e.status,
        )
    return redirect(ctx, "/me?done=receipt_submitted")


@router.get("/me/receipts/{receipt_id}/pdf")
def receipt_pdf(ctx: DriverCtx, receipt_id: PathId) -> Response:
    try:
        content, name = receipts.pdf(ctx.db, ctx.actor, receipt_id, now=ctx.now)
    except CloudError:
        raise not_found() from None
    return Response(
        content,
        media_type="application/pdf",
        headers=download_headers(name),
    )


# ------------------------------------------------------------------ tariffs (M2)

TARIFF_FIELDS = ("price", "valid_from", "valid_to")
# Where this form says more than the shared words (``forms.ERROR_TEXT``): it has one price.
TARIFF_REFUSALS: dict[str, str] = {
    "invalid_tariff": N_(
        "Check the price and the dates: the price in EUR per kWh, such as 0.3275, above 0 and "
        "below 10 with at most 6 decimals; the last day not before the first."
    ),
    "too_large": N_("The file is larger than 5 MB. Choose a smaller scan or PDF of the document."),
}


def _tariff_page(
    ctx: Ctx, typed: dict[str, str], *, error: str | None = None, status: int = 200
) -> Response:
    return render(
        ctx,
        "portal/me_tariffs.html",
        status=status,
        title=ctx.gettext("My tariff"),
        tariffs=billing.list_tariffs(ctx.db, ctx.actor).items,
        typed=typed,
        error=error,
        fmt_price=_price_text(ctx),
    )


@router.get("/me/tariffs")
def tariffs_page(ctx: DriverCtx) -> Response:
    return _tariff_page(ctx, {})


@router.post("/me/tariffs")
def tariff_upload(ctx: DriverCtx, form: CsrfUpload) -> Response:
    typed = values(form, *TARIFF_FIELDS)
    try:
        valid_from = dt.date.fromisoformat(typed["valid_from"])
        valid_to = dt.date.fromisoformat(typed["valid_to"])
    except ValueError:
        message = N_("Enter the first and the last day the tariff is valid, then send it again.")
        return _tariff_page(ctx, typed, error=ctx.gettext(message), status=422)
    document = upload(form, "document", limit=rules.MAX_DOCUMENT)
    if document is None:
        message = N_("Choose the proof document (PDF, PNG or JPEG, at most 5 MB), then send again.")
        return _tariff_page(ctx, typed, error=ctx.gettext(message), status=422)
    try:
        billing.add_tariff(
            ctx.db,
            ctx.actor,
            price=typed_price(typed["price"]) or None,
            monthly_prices=None,
            valid_from=valid_from,
            valid_to=valid_to,
            document=document,
            now=ctx.now,
        )
    except CloudError as e:
        ctx.db.rollback()
        known = TARIFF_REFUSALS.get(e.code)
        error = ctx.gettext(known) if known else refusal_text(ctx.translations, e)
        return _tariff_page(ctx, typed, error=error, status=e.status)
    return redirect(ctx, "/me/tariffs?done=tariff_uploaded")


@router.get("/me/tariffs/{tariff_id}/document")
def tariff_document(ctx: DriverCtx, tariff_id: PathId) -> Response:
    """The driver's own proof, as a download (another driver's answers 404)."""
    try:
        content, media_type, name = billing.tariff_document(ctx.db, ctx.actor, tariff_id)
    except CloudError:
        raise not_found() from None
    return Response(content, media_type=media_type, headers=download_headers(name))


@router.get("/me/export")
def my_data(ctx: DriverCtx) -> Response:
    """D1: everything held about the driver, as one JSON file (the API's export)."""
    # Here, not at the top: services -> mail -> portal would import the API while it loads.
    from cablepin.cloud.api.privacy_routes import export_response

    user = privacy.find_driver(ctx.db, ctx.actor)
    return export_response(ctx.request, user.id, ctx.now)
