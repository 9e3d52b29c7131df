"""The request's database session and clock, shared by the JSON API and the portal.

``get_db`` opens one session per request and makes the request one unit of
work (``db.transaction``): committed when the handler returns, before the
response is sent (``scope="function"``), rolled back when it raises. Services
called inside join it. ``get_now`` reads the app's injected clock, so tests
move time without sleeping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from cablepin.cloud.db import transaction

__all__ = ["Db", "Now", "get_db", "get_now"]


def get_db(request: Request) -> Iterator[Session]:
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as session, transaction(session):
        yield session


def get_now(request: Request) -> dt.datetime:
    clock: Callable[[], dt.datetime] = request.app.state.clock
    return clock()


Db = Annotated[Session, Depends(get_db, scope="function")]
Now = Annotated[dt.datetime, Depends(get_now)]
