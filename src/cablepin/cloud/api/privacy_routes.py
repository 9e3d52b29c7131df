"""A driver's data under ``/api/v1`` (D1, D2): the export and the erasure.

Who may call each route is ``domain/policy.py``; the rules are
``services/privacy.py``. The export streams: the route checks who asks and
audits a fleet manager's export in the request's unit of work (committed
before the first byte), then the document is read page by page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import StreamingResponse

from cablepin.cloud.api.deps import CurrentActor, Db, Now, SettingsDep, authorize
from cablepin.cloud.api.routes import ERRORS, Reason
from cablepin.cloud.schemas import ErasureOut
from cablepin.cloud.services import privacy

__all__ = ["export_response", "router"]

router = APIRouter(prefix="/api/v1", dependencies=[Depends(authorize)], responses=ERRORS)

Email = Annotated[str, Path(max_length=320, description="the driver's e-mail address")]

EXPORT_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "one JSON document with everything held about the driver",
        "content": {"application/json": {}},
    }
}


def export_response(
    request: Request, user_id: int, now: Any, *, filename: str = "cablepin-my-data.json"
) -> StreamingResponse:
    """The export as a download (shared with the portal's pages)."""
    chunks = privacy.export_chunks(request.app.state.sessionmaker, user_id, now=now)
    return StreamingResponse(
        (chunk.encode() for chunk in chunks),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/me/export", tags=["privacy"], response_class=StreamingResponse, responses=EXPORT_DOC)
def my_export(request: Request, db: Db, now: Now, actor: CurrentActor) -> StreamingResponse:
    """D1: everything the cloud holds about the signed-in driver, as one JSON file."""
    user = privacy.find_driver(db, actor)
    return export_response(request, user.id, now)


@router.get(
    "/drivers/{email}/export",
    tags=["privacy"],
    response_class=StreamingResponse,
    responses=EXPORT_DOC,
)
def driver_export(
    email: Email, request: Request, db: Db, now: Now, actor: CurrentActor
) -> StreamingResponse:
    """D1: a fleet manager produces a driver's export (audited as ``driver.exported``)."""
    user = privacy.find_driver(db, actor, email)
    privacy.record_export(db, actor, user, now=now)
    return export_response(request, user.id, now, filename=f"cablepin-driver-{user.id}.json")


@router.delete("/drivers/{email}", tags=["privacy"])
def erase_driver(
    email: Email,
    db: Db,
    now: Now,
    actor: CurrentActor,
    settings: SettingsDep,
    reason: Reason = None,
) -> ErasureOut:
    """D2: erase a departed driver; their cables are handed over to the pool first."""
    result = privacy.erase_driver(
        db, actor, email, now=now, years=settings.retention_years, reason=reason
    )
    return ErasureOut.model_validate(result)
