"""The OpenAPI document, made exact where FastAPI's own would not be.

Rules kept here (a schemathesis tier, ``tests/integration/cloud/test_schemathesis.py``,
checks the document against the running server with every role's token):
- ``security`` comes from ``domain/policy.py``: a ``PUBLIC`` route (login,
  factory CA) declares none, every other route the bearer token. FastAPI
  would copy the router-wide bearer dependency onto every route.
- Every operation with a request body documents ``400 invalid_json`` (a body
  that is not JSON in UTF-8) and ``413 too_large`` (``api/limits.py``).
- Bounds stay integers: FastAPI's OpenAPI models hold ``minimum``/``maximum``
  as floats and would publish ``le=2**62`` as ``4.611686018427388e+18``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from cablepin.cloud.domain.policy import rule_for

__all__ = ["exact_openapi", "install"]

BOUND_KEYS: Final = frozenset(
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
)
HTTP_METHODS: Final = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})
ERROR_REF: Final = {"$ref": "#/components/schemas/ErrorOut"}
BODY_ERRORS: Final = {
    "400": "invalid_json: the body is not JSON encoded as UTF-8",
    "413": "too_large: the body is over 1 MiB",
}


def _integral_bounds(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: int(value)
            if key in BOUND_KEYS and isinstance(value, float) and value.is_integer()
            else _integral_bounds(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_integral_bounds(item) for item in node]
    return node


def exact_openapi(app: FastAPI, *, api_prefix: str) -> dict[str, Any]:
    document: dict[str, Any] = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            if path.startswith(api_prefix) and not rule_for(method.upper(), path):
                operation.pop("security", None)
            if "requestBody" in operation:
                responses = operation.setdefault("responses", {})
                for status, description in BODY_ERRORS.items():
                    responses.setdefault(
                        status,
                        {
                            "description": description,
                            "content": {"application/json": {"schema": ERROR_REF}},
                        },
                    )
    fixed: dict[str, Any] = _integral_bounds(document)
    return fixed


def install(app: FastAPI, *, api_prefix: str) -> None:
    """Serve ``exact_openapi`` at ``/openapi.json`` (built once, on first use)."""
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not cache:
            cache.update(exact_openapi(app, api_prefix=api_prefix))
        return cache

    setter: Callable[[], dict[str, Any]] = openapi
    app.openapi = setter  # type: ignore[method-assign]
