"""The OpenAPI document as the truth: every error body is `{"error","detail"}` (ErrorBody, not
FastAPI's HTTPValidationError), every route declares the error statuses the one error table
(node/core/errors.py HTTP_ERRORS) can answer, and the streaming uploads declare their multipart
bodies, so a client generator or a fuzzer can use them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from node.core.deps import all_routes, route_authenticated
from node.core.errors import HTTP_ERRORS


class ErrorBody(BaseModel):
    """Every error answer of the node. Some carry more fields (a rejected package carries its report)."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="a reason code a client can act on, e.g. invalid_input, item_not_found")
    detail: str = Field(description="what went wrong, for a person")


# What each error status means; every status of HTTP_ERRORS has a line (tests/node/core/test_core_errors.py).
STATUS_MEANINGS = {
    400: "Bad request (unparsable or too deeply nested body)",
    401: "No valid token or API key",
    403: "The caller may not do this",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Request body too large",
    422: "Invalid input",
    429: "Too many requests",
    500: "The node failed (a bug or a damaged store; the node logged it)",
    502: "A call the node relays failed (a transaction to the chain)",
    503: "A dependency (the chain) is unavailable, or the node is not configured for this",
}


# Every route may answer every status of the table; 401 and 403 only where it needs a principal.
AUTH_ERRORS = {status: STATUS_MEANINGS[status] for status in (401, 403)}
ERROR_STATUSES = sorted({status for status, _ in HTTP_ERRORS.values()})
COMMON_ERRORS = {status: STATUS_MEANINGS[status] for status in ERROR_STATUSES if status not in AUTH_ERRORS}
PUBLIC_401 = frozenset({("post", "/auth/login")})  # public, but answers 401 bad_credentials

MULTIPART_ITEM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "metadata"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the item's bytes"},
                        "metadata": {
                            "type": "string",
                            "description": "JSON object: fonds, title, category, year, retention, archival_code, "
                            "source_path, extra",
                        },
                    },
                }
            }
        },
    }
}
MULTIPART_PACKAGE = {
    "requestBody": {
        "required": True,
        "content": {
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary", "description": "the package ZIP"}},
                }
            },
        },
    }
}

_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The node's OpenAPI document (a pure function of the app's routes, so it can be tested)."""
    spec = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorBody"] = ErrorBody.model_json_schema()
    authenticated = {(m.lower(), r.path) for r in all_routes(app) if route_authenticated(r) for m in r.methods}
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            errors = dict(COMMON_ERRORS)
            if (method, path) in authenticated:
                errors |= AUTH_ERRORS
            elif (method, path) in PUBLIC_401:
                errors[401] = AUTH_ERRORS[401]
            for status, description in sorted(errors.items()):
                responses[str(status)] = {
                    "description": description, "content": {"application/json": {"schema": _ERROR_REF}},
                }  # fmt: skip
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec


def install_openapi(app: FastAPI) -> None:
    """Serve build_openapi's document at /openapi.json (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
