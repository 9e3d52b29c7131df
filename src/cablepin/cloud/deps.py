"""The request's database session and clock, shared by the JSON API and the portal.

``get_db`` opens one session per request and makes the request one unit of
work (``db.transaction``): committed when the handler returns, before the
response is sent (``scope="function"``), rolled back when it raises. Services
called inside join it. ``get_now`` reads the app's injected clock, so tests
move time without sleeping. Dependencies that never block are ``async def``:
FastAPI runs every plain ``def`` dependency in its thread pool, a thread hop
each (B3: most of the CPU of a small request).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from anyio import CancelScope, CapacityLimiter, to_thread
from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from cablepin.cloud.db import transaction

__all__ = ["Db", "Now", "get_db", "get_now", "unit_of_work"]


async def get_db(request: Request) -> AsyncIterator[Session]:
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    unit = unit_of_work(factory)
    # Entering does no I/O (a Session connects on first use), so it runs here; leaving
    # commits (or rolls back) and closes, so that runs in the thread pool (B3: one hop).
    # As FastAPI's own contextmanager_in_threadpool: the exit is shielded from
    # cancellation and not held back by a full thread pool (the pool's threads may be
    # waiting for this very connection).
    session = unit.__enter__()
    try:
        yield session
    except BaseException as e:
        with CancelScope(shield=True):
            await to_thread.run_sync(
                unit.__exit__, type(e), e, e.__traceback__, limiter=CapacityLimiter(1)
            )
        raise
    else:
        with CancelScope(shield=True):
            await to_thread.run_sync(unit.__exit__, None, None, None, limiter=CapacityLimiter(1))


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One request's session and transaction: what ``get_db`` gives a route, for a route
    that does all its database work in one thread-pool call instead (B3: the connect)."""
    with factory() as session, transaction(session):
        yield session


def get_now(request: Request) -> dt.datetime:
    clock: Callable[[], dt.datetime] = request.app.state.clock
    return clock()


async def _now(request: Request) -> dt.datetime:
    return get_now(request)


Db = Annotated[Session, Depends(get_db, scope="function")]
Now = Annotated[dt.datetime, Depends(_now)]
