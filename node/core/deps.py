"""Dependencies shared by the routers: the node context and who is calling (docs/design.md, "Principals")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from node.core.context import NodeContext
from node.core.errors import Forbidden, Unauthorized
from node.core.principal import Principal, check_fonds  # noqa: F401  (routes import check_fonds from here)
from node.users import service as users


def get_ctx(request: Request) -> NodeContext:
    return request.app.state.ctx


def bearer_token(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key", "")


def resolve_principal(ctx: NodeContext, credential: str) -> Principal:
    """The principal behind a bearer credential; Unauthorized (with a reason) if none."""
    if not credential:
        raise Unauthorized("log in or give an API key (Authorization: Bearer <token or key>)")
    with ctx.reader() as s:
        if credential.startswith(users.TOKEN_PREFIX):
            user = users.resolve_token(s, credential)
            roles = users.roles_of(s, user.id)
            must_change = user.password_reset_state == users.MUST_CHANGE
            return Principal("user", user.id, user.username, roles, users.actions_of(roles), None, must_change)
        row = users.resolve_api_key(s, credential)
        return Principal(
            "api_key", str(row.id), row.name, frozenset(), users.api_key_actions(row), users.api_key_fonds(row)
        )


# What a user whose password must be changed (after a confirmed reset) may still call.
PASSWORD_CHANGE_ROUTES = frozenset({("POST", "/me/password"), ("GET", "/me"), ("POST", "/auth/logout")}) | frozenset(
    {("GET", "/password"), ("POST", "/password"), ("GET", "/profile")}  # the web UI's forms (node/users/pages.py)
)


def current_principal(request: Request) -> Principal:
    """401 `unauthorized` (or a more precise reason) unless a valid token or API key is given;
    403 `password_change_required` for a user who must first change their password."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        principal = resolve_principal(get_ctx(request), bearer_token(request))
        request.state.principal = principal
    if principal.must_change_password:
        template = getattr(request.scope.get("route"), "path", request.url.path)
        if (request.method, template) not in PASSWORD_CHANGE_ROUTES:
            raise Forbidden(
                "your password was reset: change it first (POST /me/password, `archive-ledger users passwd`)",
                reason="password_change_required",
            )
    return principal


def require(action: str) -> Callable[..., Principal]:
    """A dependency: the caller must hold `action` (403 `forbidden` otherwise)."""

    def dependency(request: Request, principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.may(action):
            raise Forbidden(f"{principal.kind} {principal.name!r} may not {action}")
        return principal

    dependency.action = action  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{action.replace(':', '_')}"
    return dependency


def audit_as(action: str) -> Callable[[], None]:
    """A route dependency naming the action of the route's audit event where it is not the action the
    route requires (e.g. POST /auth/login requires none; POST /loans/{id}/return requires loans:request
    but is the event loans:return). Put it in the route's `dependencies=[Depends(audit_as(...))]`."""

    def dependency() -> None:
        return None

    dependency.audit_action = action  # type: ignore[attr-defined]
    dependency.__name__ = f"audit_as_{action.replace(':', '_')}"
    return dependency


def sees_log(principal: Principal, fonds_code: str) -> bool:
    """Whether a principal may see a Merkle log: a fonds' log or its audit log (`<fonds>/audit`)."""
    return principal.fonds is None or fonds_code.split("/", 1)[0] in principal.fonds


def route_actions(route: Any) -> list[str]:
    """The actions a route requires, read from its `require(...)` dependencies (router-level ones too)."""
    if not isinstance(route, APIRoute):
        return []
    found: list[str] = []
    declared = (route.openapi_extra or {}).get("x-action")  # checked in the handler (e.g. node/lending/access.py)
    if declared:
        found.append(declared)

    def walk(dependant: Any) -> None:
        for dep in dependant.dependencies:
            action = getattr(dep.call, "action", None)
            if action is not None and action not in found:
                found.append(action)
            walk(dep)

    walk(route.dependant)
    return found


def route_audit_action(route: Any, method: str) -> str:
    """The action of a route's audit event, declared once on the route: its `audit_as(action)`, else the
    first action it requires, else `http:<METHOD>`."""
    if isinstance(route, APIRoute):
        for dep in route.dependant.dependencies:
            action = getattr(dep.call, "audit_action", None)
            if action is not None:
                return action
    actions = route_actions(route)
    return actions[0] if actions else f"http:{method}"


def route_authenticated(route: Any) -> bool:
    """Whether a route needs a principal at all (any `current_principal` dependency)."""
    if not isinstance(route, APIRoute):
        return False

    def walk(dependant: Any) -> bool:
        return any(dep.call is current_principal or walk(dep) for dep in dependant.dependencies)

    return walk(route.dependant)


def all_routes(app: Any) -> list[APIRoute]:
    """Every API route of an app, also those of included routers (FastAPI includes them lazily, so
    `app.routes` lists the routers, not their routes). Routers here are included without a prefix."""
    found: list[APIRoute] = []

    def walk(routes: Any) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            elif hasattr(route, "original_router"):
                walk(route.original_router.routes)

    walk(app.router.routes)
    return found
