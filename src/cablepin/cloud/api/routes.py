"""The ``/api/v1`` routes. Each one only translates: parse, call a service, return.

Who may call which route is ``domain/policy.py`` (checked by ``deps.authorize``
for every route of this router); organisation scoping is in the services.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from cablepin.cloud.api.deps import (
    Bearer,
    Credentials,
    CurrentActor,
    Db,
    Keys,
    Now,
    SettingsDep,
    actor_for_request,
    authorize,
    bearer_credentials,
)
from cablepin.cloud.db import POOL_SIZE, autocommit
from cablepin.cloud.deps import get_now, unit_of_work
from cablepin.cloud.domain.actor import Actor
from cablepin.cloud.errors import Unauthorized
from cablepin.cloud.keys import CloudKeys
from cablepin.cloud.metrics import SESSIONS_INGESTED
from cablepin.cloud.schemas import (
    AssignmentOut,
    AssignmentRequest,
    AuditList,
    CableDetail,
    CableList,
    ChallengeOut,
    ConnectRequest,
    ConnectResponse,
    ErrorOut,
    FactoryCaOut,
    HandoverOut,
    HandoverRequest,
    LoginRequest,
    LoginResponse,
    LogoutResponse,
    PinResetOut,
    PinResetRequest,
    ReceiptRequest,
    ReceiptResponse,
    ReleaseRequest,
    ReleaseResponse,
    ResetRequest,
    SessionList,
    SessionsUpload,
    UploadResponse,
    UserOut,
)
from cablepin.cloud.services import accounts, audit, cables, ingest, sessions

__all__ = ["connect_router", "router"]

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (401, 403, 404, 409, 422, 429)
}

router = APIRouter(prefix="/api/v1", dependencies=[Depends(authorize)], responses=ERRORS)

SERIAL_MAX = 32
Serial = Annotated[str, Path(max_length=SERIAL_MAX, description="cable serial, e.g. CBL-00012345")]
Reason = Annotated[
    str | None,
    Query(
        max_length=1000,
        description="why (audited); support must send it, else 403 reason_required",
    ),
]


# ------------------------------------------------------------------ accounts


@router.post("/auth/login", tags=["auth"])
def login(
    body: LoginRequest, request: Request, db: Db, now: Now, settings: SettingsDep, keys: Keys
) -> LoginResponse:
    token, expires_at, actor = accounts.login(
        db,
        body.email,
        body.password,
        now=now,
        ttl_s=settings.token_ttl_s,
        client=request.client.host if request.client else None,
        limits=settings.signin_limits(),
    )
    return LoginResponse(
        token=token,
        expires_at=expires_at,
        user=accounts.user_out(db, actor),
        factory_ca_pem=keys.factory_ca_pem,
    )


@router.post("/auth/logout", tags=["auth"])
def logout(db: Db, now: Now, token: Bearer) -> LogoutResponse:
    return LogoutResponse(revoked=accounts.logout(db, token, now=now))


@router.get("/me", tags=["auth"])
def me(db: Db, actor: CurrentActor) -> UserOut:
    return accounts.user_out(db, actor)


@router.get("/factory-ca", tags=["auth"])
def factory_ca(keys: Keys) -> FactoryCaOut:
    return FactoryCaOut(factory_ca_pem=keys.factory_ca_pem)


# ------------------------------------------------------------------ fleet


@router.get("/cables", tags=["fleet"])
def list_cables(
    db: Db,
    now: Now,
    actor: CurrentActor,
    serial: Annotated[str | None, Query(max_length=32, description="serial or its prefix")] = None,
    after: Annotated[
        str | None, Query(max_length=32, description="next_after of the last page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    reason: Reason = None,
) -> CableList:
    return cables.list_cables(
        db, actor, now=now, serial=serial, after=after, limit=limit, reason=reason
    )


@router.get("/cables/{serial}", tags=["fleet"])
def cable_detail(
    serial: Serial, db: Db, now: Now, actor: CurrentActor, reason: Reason = None
) -> CableDetail:
    return cables.cable_detail(db, actor, serial, now=now, reason=reason)


@router.put("/cables/{serial}/assignment", tags=["fleet"])
def assign(
    serial: Serial,
    body: AssignmentRequest,
    db: Db,
    now: Now,
    actor: CurrentActor,
    reason: Reason = None,
) -> AssignmentOut:
    return cables.assign(db, actor, serial, body.driver_email, now=now, reason=reason)


@router.post("/cables/{serial}/pin-reset", tags=["fleet"])
def allow_pin_reset(
    serial: Serial, body: PinResetRequest, db: Db, now: Now, actor: CurrentActor
) -> PinResetOut:
    return cables.allow_pin_reset(
        db, actor, serial, now=now, expires_in_days=body.expires_in_days, reason=body.reason
    )


@router.delete("/cables/{serial}/pin-reset", tags=["fleet"])
def revoke_pin_reset(
    serial: Serial, db: Db, now: Now, actor: CurrentActor, reason: Reason = None
) -> PinResetOut:
    return cables.revoke_pin_reset(db, actor, serial, now=now, reason=reason)


@router.post("/cables/{serial}/handover", tags=["fleet"])
def start_handover(
    serial: Serial, body: HandoverRequest, db: Db, now: Now, actor: CurrentActor
) -> HandoverOut:
    return cables.start_handover(db, actor, serial, body.driver_email, now=now, reason=body.reason)


@router.delete("/cables/{serial}/handover", tags=["fleet"])
def cancel_handover(
    serial: Serial, db: Db, now: Now, actor: CurrentActor, reason: Reason = None
) -> HandoverOut:
    return cables.cancel_handover(db, actor, serial, now=now, reason=reason)


@router.post("/cables/{serial}/reset", tags=["fleet"])
def reset(serial: Serial, body: ResetRequest, db: Db, now: Now, actor: CurrentActor) -> HandoverOut:
    return cables.reset_cable(db, actor, serial, now=now, reason=body.reason)


@router.get("/sessions", tags=["fleet"])
def list_sessions(
    db: Db,
    now: Now,
    actor: CurrentActor,
    driver_email: Annotated[str | None, Query(max_length=320)] = None,
    serial: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[
        str | None,
        Query(
            max_length=39,
            pattern=sessions.CURSOR_PATTERN,
            description=(
                "next_cursor of the previous page, unchanged; leave out for the newest "
                "sessions. A cursor this API did not give out answers 422 invalid_request."
            ),
        ),
    ] = None,
    reason: Reason = None,
) -> SessionList:
    """Sessions newest first (start, then id), ``limit`` a page; ``next_cursor`` pages on."""
    return sessions.list_sessions(
        db,
        actor,
        now=now,
        driver_email=driver_email,
        serial=serial,
        limit=limit,
        cursor=cursor,
        reason=reason,
    )


@router.get("/audit", tags=["fleet"])
def list_audit(
    db: Db,
    now: Now,
    actor: CurrentActor,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_seq: Annotated[
        int | None,
        Query(ge=1, le=2**62, description="next_before_seq of the previous page"),
    ] = None,
    reason: Reason = None,
) -> AuditList:
    return audit.list_events(db, actor, now=now, limit=limit, before_seq=before_seq, reason=reason)


# ------------------------------------------------------------------ app


@router.get("/app/cables/{serial}/challenge", tags=["app"])
def challenge(serial: Serial, db: Db, now: Now, keys: Keys, actor: CurrentActor) -> ChallengeOut:
    """A fresh challenge: the app passes it to the cable's hello, the cable signs it."""
    return ingest.challenge(db, actor, serial, challenge_key=keys.challenge_key, now=now)


# B3: the connect is the hot path of every cable. It has a router of its own, without the
# router dependency: its token check (the same code, ``actor_for_request``, the same policy
# rule), the service and the database work run in one thread-pool call, and its route class
# (``_ConnectRoute``) answers a well-formed request without FastAPI's dependency machinery.
class _ConnectRoute(APIRoute):
    """The connect's route: the declared endpoint below is its OpenAPI document and the
    answer to every request that is not plainly well formed; a well-formed one (JSON body,
    a serial of at most 32 characters, a body the model takes) is answered here, by the
    same code the endpoint calls, with the model's own JSON (as FastAPI would)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        declared = super().get_route_handler()

        async def handler(request: Request) -> Response:
            serial = request.path_params.get("serial")
            body = await request.body()
            content_type = request.headers.get("content-type", "")
            if (
                not isinstance(serial, str)
                or len(serial) > SERIAL_MAX
                or content_type.partition(";")[0].strip().lower() != "application/json"
            ):
                return await declared(request)
            try:
                hello = ConnectRequest.model_validate_json(body)
            except ValidationError:
                return await declared(request)  # FastAPI words the refusal, as for any route
            credentials = await bearer_credentials(request)
            now, keys = get_now(request), request.app.state.keys
            answer = await to_thread.run_sync(
                _connect, request, serial, hello, now, keys, credentials, limiter=_CONNECTS
            )
            return Response(_CONNECT_JSON(answer), media_type="application/json")

        return handler


_CONNECT_JSON = ConnectResponse.__pydantic_serializer__.to_json
# No more connects in threads than pooled connections: more would only wait for one, or
# open and close connections past the pool, and contend for the GIL meanwhile.
_CONNECTS = CapacityLimiter(POOL_SIZE)
connect_router = APIRouter(prefix="/api/v1", responses=ERRORS, route_class=_ConnectRoute)


@connect_router.post("/app/cables/{serial}/connect", tags=["app"])
async def connect(
    serial: Serial,
    body: ConnectRequest,
    request: Request,
    now: Now,
    keys: Keys,
    credentials: Credentials,
) -> ConnectResponse:
    return await to_thread.run_sync(
        _connect, request, serial, body, now, keys, credentials, limiter=_CONNECTS
    )


def _connect(
    request: Request,
    serial: str,
    body: ConnectRequest,
    now: dt.datetime,
    keys: CloudKeys,
    credentials: HTTPAuthorizationCredentials | None,
) -> ConnectResponse:
    """The token check and ``ingest.connect`` in two units: the quick one without a
    transaction (``db.autocommit``: two reads and at most one conditional UPDATE, no
    BEGIN or COMMIT), and only when it cannot answer, the locked one. Running the quick
    one twice does no harm, so when the database ended its connection under it, it is
    run once more on a fresh one (the pool gives out no connection it knows is gone)."""
    state = request.app.state
    actor, answer = _connect_quick(request, serial, body, now, keys, credentials)
    if answer is not None:
        return answer
    with unit_of_work(state.sessionmaker) as db:
        return ingest.connect_locked(db, actor, serial, body, command_key=keys.command_key, now=now)


def _connect_quick(
    request: Request,
    serial: str,
    body: ConnectRequest,
    now: dt.datetime,
    keys: CloudKeys,
    credentials: HTTPAuthorizationCredentials | None,
) -> tuple[Actor, ConnectResponse | None]:
    for attempt in (1, 2):
        try:
            with autocommit(request.app.state.engine) as db:
                actor = actor_for_request(request, db, now, credentials)
                if actor is None:  # the policy made the route public: a wiring mistake
                    raise Unauthorized("log in first")
                answer = ingest.connect_quick(
                    db, actor, serial, body, challenge_key=keys.challenge_key, now=now
                )
                return actor, answer
        except DBAPIError as e:
            if not e.connection_invalidated or attempt == 2:
                raise
    raise AssertionError("unreachable")


@router.post("/app/cables/{serial}/release", tags=["app"])
def release(
    serial: Serial, body: ReleaseRequest, db: Db, now: Now, actor: CurrentActor
) -> ReleaseResponse:
    """Hand back a PIN permission the app did not relay, so it is ready again at once."""
    return ingest.release(db, actor, serial, body, now=now)


@router.post("/app/cables/{serial}/receipts", tags=["app"])
def post_receipt(
    serial: Serial, body: ReceiptRequest, db: Db, now: Now, actor: CurrentActor
) -> ReceiptResponse:
    return ingest.post_receipt(db, actor, serial, body, now=now)


@router.post("/app/cables/{serial}/sessions", tags=["app"])
def upload_sessions(
    serial: Serial, body: SessionsUpload, db: Db, now: Now, actor: CurrentActor
) -> UploadResponse:
    result = ingest.upload_sessions(db, actor, serial, body, now=now)
    SESSIONS_INGESTED.inc(result.accepted)
    return result
