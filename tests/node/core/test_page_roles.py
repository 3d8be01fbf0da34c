"""A refused page for every wrong role (issue 11): every page of the app (GET), opened in a browser session
of each role, is either the page or the HTML 403 page (`data-reason="forbidden"`, the node's layout, the
caller's own navigation) for exactly the roles the route x role table refuses; without a session every page
but the login sends the browser to the login page. tests/node/core/test_route_roles.py walks every route
(pages too) with bearer callers; this walk is the browser's view of the same table."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from node.core.deps import all_routes, route_authenticated
from node.core.roles import Role
from tests.helpers.people import OFFICER_USERS, People
from tests.node.core.test_route_roles import expected_callers, fill
from tests.node.core.test_web_pages import browser, login


def test_every_page_refuses_every_wrong_role_with_the_html_403_page(api: Any, people: People) -> None:
    from tests.helpers.api import upload

    item = upload(api, b"an item for the page walk").json()["id"]
    pages = [r for r in all_routes(api.app) if "pages" in r.tags and "GET" in r.methods and route_authenticated(r)]
    assert {r.path for r in pages} >= {"/", "/inbox", "/accounts", "/roles", "/officer-changes", "/audit-trail"}
    sessions = {}
    for role in Role:
        client = browser(api)
        answer = login(client, OFFICER_USERS.get(role.value, role.value), people.passwords[role.value])
        assert answer.status_code == 303, (role, answer.text)
        sessions[role.value] = client
    wrong: list[str] = []
    refusals = 0
    for route in pages:
        url = fill(route.path, item)
        allowed = expected_callers(route)
        for role, client in sessions.items():
            page = client.get(url)
            assert page.status_code != 500, (url, role)
            if role in allowed:
                if page.status_code in (401, 403):
                    wrong.append(f"{url} refused {role} ({page.status_code})")
                continue
            refusals += 1
            html = page.headers.get("content-type", "").startswith("text/html")
            if page.status_code != 403 or not html or 'data-reason="forbidden"' not in page.text:
                wrong.append(f"{url} as {role}: {page.status_code} {page.text[:200]!r}")
                continue
            # the 403 page is the node's own page: the caller's navigation, a way home, no page content
            nav = set(re.findall(r'<a href="(/[\w\-]*)">', page.text))
            assert "/" in nav and url not in nav, (url, role, nav)
        anonymous = browser(api).get(url)
        assert anonymous.status_code == 303, url
        assert anonymous.headers["location"].startswith("/login?next=" + quote(url, safe="")), url
    assert not wrong, "\n".join(wrong)
    assert refusals >= 40
