"""Every route of the app x every kind of caller: the allowed set is what the design's table says.

Allowed means "not 401/403". The expected matrix comes from node/roles.ROLE_ACTIONS and the action
each route declares (`require(...)` dependencies, or `x-action` / `x-roles` / `x-principal` in its
OpenAPI extras when the handler checks; `x-any-action`: any one of a list); a few cells are also
hard-coded, so a wrong table fails."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute

from node.core.deps import all_routes, route_actions, route_authenticated
from node.core.roles import INIT_API_KEY_ACTIONS, ROLE_ACTIONS, Role
from tests.helpers.people import People

CALLERS = ("anonymous", "init_key", *(r.value for r in Role))

# Valid bodies where a handler checks the caller only after the body is parsed.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/officer-proposals"): {"user": "nobody", "role": "system_admin", "change": "grant"},
    ("POST", "/me/password"): {"old_password": "not the password", "new_password": "another long password"},
}


def expected_callers(route: APIRoute) -> set[str]:
    extra = route.openapi_extra or {}
    if "x-roles" in extra:
        return set(extra["x-roles"])
    if "x-any-action" in extra:  # the handler lets in whoever holds one of these (e.g. own loans or all loans)
        anyof = set(extra["x-any-action"])
        allowed = {role.value for role in Role if anyof & ROLE_ACTIONS[role]}
        return allowed | ({"init_key"} if anyof & INIT_API_KEY_ACTIONS else set())
    actions = set(route_actions(route))
    if actions:
        allowed = {role.value for role in Role if actions <= ROLE_ACTIONS[role]}
        return allowed | ({"init_key"} if actions <= INIT_API_KEY_ACTIONS else set())
    if route_authenticated(route):
        users_only = extra.get("x-principal") == "user"
        return {r.value for r in Role} | (set() if users_only else {"init_key"})
    return set(CALLERS)  # public


def fill(path: str, item_id: str) -> str:
    path = path.replace("{item_id}", item_id)
    return re.sub(r"\{(\w+)\}", lambda m: "999999" if m.group(1).endswith("_id") and "key" in m.group(1) else "nobody",
                  path)  # fmt: skip


def headers_for(caller: str, people: People) -> dict[str, str]:
    if caller == "anonymous":
        return {"Authorization": ""}
    if caller == "init_key":
        return {"Authorization": f"Bearer {people.init_key}"}
    return people.auth(caller)


@pytest.fixture
def item_id(api) -> str:  # type: ignore[no-untyped-def]
    from tests.helpers.api import upload

    r = upload(api, b"an item for the route walk")
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_every_route_with_every_caller(api, people: People, item_id: str) -> None:  # type: ignore[no-untyped-def]
    routes = all_routes(api.app)
    assert len(routes) >= 25
    # The logout route ends the session it is called with: walk it last.
    routes.sort(key=lambda r: r.path == "/auth/logout")
    seen: dict[tuple[str, str], set[str]] = {}
    wrong: list[str] = []
    for route in routes:
        for method in sorted(route.methods - {"HEAD"}):
            expected = expected_callers(route)
            # A web UI form without its CSRF token is refused even where anyone may post (login, language):
            # only bearer callers (no cookie, no ambient authority) skip the token (tests/node/core/test_web_pages.py).
            csrf_form = "pages" in route.tags and method == "POST" and not route_authenticated(route)
            if csrf_form:
                expected.discard("anonymous")
            allowed = set()
            for caller in CALLERS:
                body = BODIES.get((method, route.path), {})
                kwargs: dict[str, Any] = {"headers": headers_for(caller, people)}
                if method in ("POST", "PUT", "PATCH"):
                    kwargs["json"] = body
                r = api.request(method, fill(route.path, item_id), **kwargs)
                assert r.status_code != 500, (method, route.path, caller, r.text)
                if csrf_form and caller == "anonymous":
                    assert r.status_code == 403 and 'data-reason="csrf_failed"' in r.text, (route.path, r.text)
                if r.status_code not in (401, 403):
                    allowed.add(caller)
            seen[(method, route.path)] = allowed
            if allowed != expected:
                wrong.append(f"{method} {route.path}: allowed {sorted(allowed)}, expected {sorted(expected)}")
    assert not wrong, "\n".join(wrong)

    # Key cells, hard-coded from docs/design.md.
    assert seen[("GET", "/items/{item_id}/content")] == {"archivist", "init_key"}  # not the system admin
    assert seen[("GET", "/audit/export")] == {"security_auditor"}
    assert seen[("GET", "/audit/verify")] == {"security_auditor"}
    assert seen[("POST", "/users")] == {"system_admin"}
    assert seen[("POST", "/users/{ref}/roles")] == {"security_admin"}
    assert seen[("POST", "/items")] == {"archivist", "init_key"}
    assert seen[("POST", "/anchor")] == {"archivist", "init_key"}
    assert seen[("POST", "/packages")] == {"archivist", "init_key"}
    assert seen[("GET", "/items/{item_id}/checks")] == set(CALLERS) - {"anonymous", "system_admin"}
    assert seen[("GET", "/users")] == {"system_admin", "security_admin", "security_auditor"}
    assert seen[("GET", "/status")] == set(CALLERS) - {"anonymous", "borrower"}
    assert seen[("POST", "/officer-proposals")] == {"system_admin", "security_admin", "security_auditor"}
    assert seen[("GET", "/health")] == set(CALLERS)
    assert "anonymous" not in seen[("GET", "/items")]
    assert seen[("GET", "/search")] == set(CALLERS) - {"anonymous", "system_admin"}  # the catalogue's readers
    # Web UI pages (issue 11): the same require(action) as the API beside them.
    assert seen[("GET", "/inbox")] == seen[("POST", "/inbox")] == {"approver"}
    assert seen[("GET", "/my-loans")] == seen[("POST", "/my-loans/new")] == {"borrower"}
    assert seen[("GET", "/audit-trail")] == seen[("GET", "/audit-trail/verify")] == {"security_auditor"}
    assert seen[("GET", "/audit-trail/export")] == {"security_auditor"}
    assert seen[("GET", "/checkpoint-log")] == seen[("GET", "/checkpoints")]
    assert seen[("GET", "/find")] == seen[("GET", "/browse")] == seen[("GET", "/records/{item_id}")] == seen[
        ("GET", "/records/{item_id}/proof")] == seen[("GET", "/search")]  # fmt: skip
    assert seen[("POST", "/inbox/{loan_id}/revoke")] == {"approver", "security_admin"}
    # the archivist's pages: filing as POST /packages, arrangement as the API's writes, alerts as the API's
    assert seen[("GET", "/filing")] == seen[("POST", "/filing")] == seen[("POST", "/packages")]
    assert seen[("GET", "/filing/jobs/{job_id}")] == seen[("GET", "/packages/jobs/{job_id}")]
    assert seen[("GET", "/filing/jobs/{job_id}")] == {"archivist", "init_key"}
    assert seen[("GET", "/filing/packages/{package_id}")] == seen[("GET", "/packages/{package_id}")]
    assert seen[("GET", "/arrange")] == seen[("POST", "/arrange/move")] == seen[("POST", "/items/{item_id}/move")]
    assert seen[("POST", "/arrange/items/{item_id}/metadata")] == {"archivist"}
    assert seen[("GET", "/preservation-alerts")] == seen[("GET", "/preservation/alerts")]
    assert seen[("POST", "/preservation-alerts/run")] == seen[("POST", "/preservation/run")]
    assert seen[("POST", "/preservation/run")] == {"archivist", "init_key"}
    assert seen[("GET", "/")] == seen[("GET", "/profile")] == set(CALLERS) - {"anonymous"}
    # The officers' pages: each officer only their own (issue 11, point 6).
    for path in ("/accounts", "/keys"):
        assert seen[("GET", path)] == seen[("POST", path)] == {"system_admin"}
    assert seen[("POST", "/accounts/{ref}/password")] == seen[("POST", "/users/{ref}/password")] == {"system_admin"}
    assert seen[("GET", "/roles")] == seen[("POST", "/roles")] == {"security_admin"}
    assert seen[("GET", "/password-resets")] == {"security_admin"}
    assert seen[("POST", "/password-resets/{ref}/confirm")] == seen[("POST", "/users/{ref}/password/confirm")]
    officers = {"system_admin", "security_admin", "security_auditor"}
    assert seen[("GET", "/officer-changes")] == seen[("POST", "/officer-changes")] == officers
    assert seen[("GET", "/verify-record")] == seen[("POST", "/verify-record")] == {"auditor", "security_auditor"}
    assert seen[("GET", "/statistics")] == {"approver", "auditor", "security_admin", "security_auditor"}  # loans:read
    # The security auditor writes nothing but officer reviews (two-officer changes need all three).
    writes = [k for k in seen if k[0] != "GET" and k not in {("POST", "/verify"), ("POST", "/verify-record")}]
    assert {k for k in writes if "security_auditor" in seen[k]} <= {
        ("POST", "/officer-proposals"), ("POST", "/officer-proposals/{proposal_id}/confirm"),
        ("POST", "/auth/login"), ("POST", "/auth/logout"), ("POST", "/me/password"),
        ("POST", "/login"), ("POST", "/logout"), ("POST", "/password"), ("POST", "/lang"),  # web UI forms
        ("POST", "/officer-changes"), ("POST", "/officer-changes/{proposal_id}/confirm"),  # the same, as pages
    }  # fmt: skip
