"""A cap on request bodies for the JSON API (robustness; U2: nothing is lost on bad input).

``BodyLimit`` is a small pure-ASGI middleware: for paths under its prefix it
refuses a declared ``Content-Length`` over the limit at once, and otherwise
reads the body (at most ``limit`` bytes, whether chunked or not) before the
app sees it, answering ``413 too_large`` in our error shape when it is larger.
Other paths (the portal's small form posts) pass through untouched.
``overrides`` gives single paths their own cap (a tariff's proof document).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cablepin.cloud.errors import TooLarge

__all__ = ["MAX_BODY", "BodyLimit"]

MAX_BODY: Final = 1024 * 1024  # 1 MiB: a full sessions batch (500 records) is < 100 KiB


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int = MAX_BODY,
        prefix: str = "/api/",
        overrides: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.prefix = prefix
        self.overrides = dict(overrides or {})

    def _too_large(self, limit: int) -> JSONResponse:
        error = TooLarge(
            f"the request body is larger than {limit // 1024} KiB; send less "
            "(sessions go in batches of at most 500 records; a tariff's proof is at most 5 MB)"
        )
        return JSONResponse(error.to_dict(), status_code=error.status)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        limit = self.overrides.get(str(scope.get("path", "")), self.limit)
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                await self._too_large(limit)(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before it finished sending
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(limit)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
