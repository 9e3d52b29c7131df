"""Every FastAPI dependency of the API, as ``Annotated`` aliases in one place.

The session and the clock are the ones the portal uses too (``cloud/deps.py``:
a request is one unit of work). ``authorize`` runs for every ``/api/v1``
route (router dependency): it looks the route up in ``domain/policy.py``,
checks the bearer token and the role, and returns the actor (None on public
routes). Organisation checks happen in the services.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from cablepin.cloud.deps import Db, Now, get_db
from cablepin.cloud.domain.actor import Actor
from cablepin.cloud.domain.policy import check_role, rule_for
from cablepin.cloud.errors import Unauthorized
from cablepin.cloud.keys import CloudKeys
from cablepin.cloud.services import accounts
from cablepin.cloud.settings import Settings

__all__ = [
    "Bearer",
    "Credentials",
    "CurrentActor",
    "Db",
    "Keys",
    "Now",
    "SettingsDep",
    "actor_for_request",
    "authorize",
    "bearer_credentials",
    "get_db",
]

_bearer = HTTPBearer(auto_error=False, description="the token from POST /api/v1/auth/login")


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_keys(request: Request) -> CloudKeys:
    keys: CloudKeys = request.app.state.keys
    return keys


SettingsDep = Annotated[Settings, Depends(get_settings)]
Keys = Annotated[CloudKeys, Depends(get_keys)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def bearer_credentials(request: Request) -> HTTPAuthorizationCredentials | None:
    """``Credentials`` without the dependency machinery (the connect's route, B3)."""
    return await _bearer(request)


def authorize(request: Request, db: Db, now: Now, credentials: Credentials) -> Actor | None:
    return actor_for_request(request, db, now, credentials)


def actor_for_request(
    request: Request,
    db: Session | Connection,
    now: dt.datetime,
    credentials: HTTPAuthorizationCredentials | None,
) -> Actor | None:
    """``authorize``'s check as plain code, for a route that runs it in its own thread-pool
    call (``routes.connect``); the route's rule in ``domain/policy.py`` decides."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    allowed = rule_for(request.method, path)
    if not allowed:
        return None
    if credentials is None:
        raise Unauthorized(
            "log in first: send 'Authorization: Bearer TOKEN' with the token from "
            "POST /api/v1/auth/login"
        )
    actor = accounts.actor_for_token(db, credentials.credentials, now=now)
    check_role(allowed, actor)
    return actor


async def current_actor(actor: Annotated[Actor | None, Depends(authorize)]) -> Actor:
    if actor is None:  # a public route asked for an actor: a wiring mistake, refuse safely
        raise Unauthorized("log in first")
    return actor


async def bearer_token(credentials: Credentials) -> str:
    if credentials is None:
        raise Unauthorized("send the token to revoke as 'Authorization: Bearer TOKEN'")
    return credentials.credentials


CurrentActor = Annotated[Actor, Depends(current_actor)]
Bearer = Annotated[str, Depends(bearer_token)]
