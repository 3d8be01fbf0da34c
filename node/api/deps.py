"""Dependencies shared by the routers: the node context and who is calling."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import JSONResponse

from node.context import NodeContext
from node.errors import Unauthorized


def get_ctx(request: Request) -> NodeContext:
    return request.app.state.ctx


def error_response(status: int, reason: str, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": reason, "detail": detail})


@dataclass(frozen=True)
class Principal:
    """Who is calling: an integrator's API key (users and roles come with the lending workflow)."""

    kind: str
    name: str
    actions: frozenset[str] = field(default_factory=frozenset)


def bearer_token(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key", "")


def require_api_key(request: Request) -> Principal:
    key = bearer_token(request)
    if not key or not get_ctx(request).api_key_valid(key):
        raise Unauthorized("a valid API key is required (Authorization: Bearer <key>)")
    return Principal(kind="api_key", name="integrator")
