"""Support's view of the outbox (M7): what waits, what failed, and a retry.

A message the server refused for good (5xx), or that ran out of retries, is
``failed``; support sees it here and may send it again, with a reason,
audited (``mail.retried``) in the organisation's log. The page says when no
mail server is configured, so nothing leaves the outbox. It shows a
recipient's domain only and the subject's kind, not the message: the list
spans organisations and support reads people's data only with a reason;
the server's reply is shown with every address in it masked the same way.
It also names the base of the links in mails (``CABLEPIN_PUBLIC_URL``), so a
wrong one (``http://0.0.0.0:8000``) is seen before drivers get dead links.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from cablepin.cloud.domain.outbox import mask_address, mask_addresses
from cablepin.cloud.errors import CloudError, ReasonRequired
from cablepin.cloud.portal import backend, labels
from cablepin.cloud.portal.forms import field, refusal_text
from cablepin.cloud.portal.web import CsrfForm, PathId, PortalRoute, SupportCtx, redirect, render

__all__ = ["router"]

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


def _page(ctx: SupportCtx, *, status: int = 200, error: str | None = None) -> Response:
    return render(
        ctx,
        "portal/support_mail.html",
        status=status,
        backlog=backend.outbox.backlog(ctx.db),
        failed=backend.outbox.failed_messages(ctx.db),
        mail_server=backend.mail_server(ctx.request),
        public_url=backend.public_url(ctx.request),
        kind_label=lambda kind: ctx.gettext(labels.MAIL_KIND[kind.value]),
        masked=mask_address,
        # Stored masked already; rows from before that rule are masked here.
        masked_reply=mask_addresses,
        error=error,
    )


@router.get("/support/mail")
def mail_page(ctx: SupportCtx) -> Response:
    return _page(ctx)


@router.post("/support/mail/{message_pk}/retry")
def mail_retry(ctx: SupportCtx, message_pk: PathId, form: CsrfForm) -> Response:
    assert ctx.user is not None
    try:
        backend.outbox.retry(
            ctx.db,
            backend.actor(ctx.db, ctx.user),
            message_pk,
            reason=field(form, "reason")[:1000],
            now=ctx.now,
        )
    except ReasonRequired:
        ctx.db.rollback()
        return _page(
            ctx,
            status=422,
            error=ctx.gettext(
                "Please give a reason. Support actions are only allowed with a reason."
            ),
        )
    except CloudError as e:
        ctx.db.rollback()
        return _page(ctx, status=e.status, error=refusal_text(ctx.translations, e))
    return redirect(ctx, "/support/mail?done=mail_retried")
