"""The officers' pages without a browser (issue 11, point 6): every form works and writes exactly one audit
event, through the same services as the API; each officer sees and may use only their own pages; bad input
shows a clear reason and changes nothing; a created API key is shown once. The browser version is
tests/e2e/test_web_officers.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from node.core import web
from node.core.models import Loan, LoanStatus, User
from tests.helpers.people import PEOPLE_PASSWORD, People
from tests.node.core.test_web_pages import browser, csrf_of, events, last_seq, login

NEW_PASSWORD = "a fresh initial password 2027"
OFFICER_PAGES = {  # page -> the officer usernames it is for (everybody else: 403)
    "/accounts": {"sysadmin"}, "/keys": {"sysadmin"},
    "/roles": {"secadmin"}, "/password-resets": {"secadmin"},
    "/officer-changes": {"sysadmin", "secadmin", "secauditor"},
}  # fmt: skip
USERNAMES = {"system_admin": "sysadmin", "security_admin": "secadmin", "security_auditor": "secauditor"}


def as_person(api: Any, people: People, role: str) -> TestClient:
    """A browser logged in as the people fixture's user of `role` (officers: sysadmin, secadmin, secauditor)."""
    client = browser(api)
    answer = login(client, USERNAMES.get(role, role), people.passwords[role])
    assert answer.status_code == 303, answer.text
    return client


def post(client: TestClient, page: str, action: str, data: dict[str, Any] | None = None) -> Any:
    """Submit a form of `page` to `action` with the page's CSRF token, like the browser would."""
    return client.post(action, data={**(data or {}), "csrf_token": csrf_of(client.get(page))})


def one_event(node_ctx: Any, before: int) -> Any:
    new = events(node_ctx, before)
    assert len(new) == 1, [(e.action, e.target, e.outcome) for e in new]
    return new[0]


def reason(page: Any) -> str | None:
    found = re.search(r'data-reason="([^"]*)"', page.text)
    return found.group(1) if found else None


def usernames(node_ctx: Any) -> set[str]:
    with node_ctx.reader() as s:
        return set(s.scalars(select(User.username)))


def user_state(api: Any, people: People, ref: str) -> dict[str, Any]:
    r = api.get(f"/users/{ref}", headers=people.auth("system_admin"))
    assert r.status_code == 200, r.text
    return r.json()


# -- system admin: accounts -----------------------------------------------------------------------------
def test_the_system_admin_creates_disables_and_enables_an_account(api: Any, node_ctx: Any, people: People) -> None:
    sysadmin = as_person(api, people, "system_admin")
    page = sysadmin.get("/accounts")
    assert page.status_code == 200
    assert {"borrower", "sysadmin", "secadmin"} <= set(re.findall(r'<tr data-user="([^"]+)"', page.text))
    assert 'data-user="borrower" data-state="active"' in page.text

    before = last_seq(node_ctx)
    form = {"username": "erin", "display_name": "艾琳", "password": NEW_PASSWORD, "must_change_password": "1"}
    done = post(sysadmin, "/accounts", "/accounts", form)
    assert done.status_code == 303 and done.headers["location"] == "/accounts?notice=officers.account_created"
    event = one_event(node_ctx, before)
    assert (event.action, event.target, event.outcome, event.principal_name) == (
        "users:manage", "/users", "ok", "sysadmin")  # fmt: skip
    assert json.loads(event.details_json)["username"] == "erin"
    erin = user_state(api, people, "erin")
    assert erin["roles"] == [] and erin["password_reset"] == "must_change" and erin["chain_address"]
    listed = sysadmin.get(done.headers["location"])
    assert 'data-user="erin" data-state="must_change"' in listed.text and "账号已创建" in listed.text
    # the initial password works, and the first thing asked is a new one
    assert login(browser(api), "erin", NEW_PASSWORD).headers["location"] == "/password"

    before = last_seq(node_ctx)
    assert post(sysadmin, "/accounts", "/accounts/erin/disable").status_code == 303
    event = one_event(node_ctx, before)
    assert (event.action, event.target, event.outcome) == ("users:manage", "/users/erin", "ok")
    assert 'data-user="erin" data-state="disabled"' in sysadmin.get("/accounts").text
    assert login(browser(api), "erin", NEW_PASSWORD).status_code == 401
    before = last_seq(node_ctx)
    assert post(sysadmin, "/accounts", "/accounts/erin/enable").status_code == 303
    assert one_event(node_ctx, before).outcome == "ok"
    assert user_state(api, people, "erin")["disabled"] is False
    # without "must change password" the account is ready at once
    post(sysadmin, "/accounts", "/accounts", {"username": "fay", "password": NEW_PASSWORD})
    assert user_state(api, people, "fay")["password_reset"] is None
    # nobody disables their own account: the page says so and nothing changes
    own = post(sysadmin, "/accounts", "/accounts/sysadmin/disable")
    assert own.status_code == 403 and reason(own) == "own_account"
    assert 'data-user="sysadmin" data-state="active"' in sysadmin.get("/accounts").text


def test_the_account_lists_come_in_pages_and_can_be_filtered(api: Any, node_ctx: Any, people: People) -> None:
    """Thousands of accounts (70 subsidiaries): /accounts and /roles show 50 at a time, in username order,
    with a filter by username prefix or part of the display name."""
    from node.users import service as users

    with node_ctx.sessions() as s:
        for i in range(users.ACCOUNTS_PAGE + 5):
            users.create_user(s, f"reader{i:03d}", NEW_PASSWORD, display_name=f"分公司读者 {i}")
        s.commit()
    sysadmin, secadmin = as_person(api, people, "system_admin"), as_person(api, people, "security_admin")
    for client, page in ((sysadmin, "/accounts"), (secadmin, "/roles")):
        first = client.get(page)
        shown = re.findall(r'<tr data-user="([^"]+)"', first.text)
        assert len(shown) == users.ACCOUNTS_PAGE and shown == sorted(shown), page
        assert 'id="accounts-next"' in first.text and 'id="accounts-prev"' not in first.text
        second = client.get(page, params={"page": 2})
        rest = re.findall(r'<tr data-user="([^"]+)"', second.text)
        assert rest and not set(rest) & set(shown) and 'id="accounts-prev"' in second.text
        found = client.get(page, params={"find": "reader05"})
        assert re.findall(r'<tr data-user="([^"]+)"', found.text) == [f"reader05{i}" for i in range(5)]
        by_name = client.get(page, params={"find": "读者 54"})
        assert re.findall(r'<tr data-user="([^"]+)"', by_name.text) == ["reader054"]
        assert client.get(page, params={"find": "%"}).text.count("<tr data-user=") == 0  # LIKE is escaped
        assert client.get(page, params={"page": "x"}).status_code == 200  # a bad page is the first one


@pytest.mark.parametrize(
    ("form", "status", "code", "message"),
    [
        ({"username": "", "password": NEW_PASSWORD}, 422, "bad_username", "用户名须为 2–64 个字符"),
        ({"username": "Bad Name!", "password": NEW_PASSWORD}, 422, "bad_username", "以字母开头"),
        ({"username": "gus", "password": "short"}, 422, "password_too_short", "密码太短：至少 12 个字符。"),
        ({"username": "borrower", "password": NEW_PASSWORD}, 409, "username_taken", "该用户名已被使用。"),
    ],
)  # fmt: skip
def test_bad_account_input_shows_a_clear_error_and_creates_nothing(
    api: Any, node_ctx: Any, people: People, form: dict[str, str], status: int, code: str, message: str
) -> None:
    sysadmin = as_person(api, people, "system_admin")
    known = usernames(node_ctx)
    before = last_seq(node_ctx)
    refused = post(sysadmin, "/accounts", "/accounts", form)
    assert refused.status_code == status and reason(refused) == code and message in refused.text
    assert f'value="{form["username"]}"' in refused.text  # the form keeps what was typed (never the password)
    assert f'value="{form["password"]}"' not in refused.text
    event = one_event(node_ctx, before)
    assert (event.action, event.outcome, json.loads(event.details_json)["reason"]) == ("users:manage", "failed", code)
    assert usernames(node_ctx) == known


def test_english_reasons_too(api: Any, people: People) -> None:
    sysadmin = as_person(api, people, "system_admin")
    sysadmin.cookies.set(web.LANG_COOKIE, "en")
    refused = post(sysadmin, "/accounts", "/accounts", {"username": "", "password": NEW_PASSWORD})
    assert "A username is 2–64 characters" in refused.text and '<html lang="en">' in refused.text


# -- system admin: API keys ---------------------------------------------------------------------------------
def test_a_new_api_key_is_shown_once_and_can_be_revoked(api: Any, node_ctx: Any, people: People) -> None:
    sysadmin = as_person(api, people, "system_admin")
    page = sysadmin.get("/keys")
    assert page.status_code == 200 and 'id="new-key"' not in page.text
    offered = set(re.findall(r'name="action" value="([^"]+)"', page.text))
    assert offered == {"status:read"}  # the system admin's own actions within what keys may carry
    before = last_seq(node_ctx)
    made = post(sysadmin, "/keys", "/keys", {"name": "monitoring", "action": ["status:read"], "fonds": "Z001"})
    assert made.status_code == 200 and 'id="new-key"' in made.text
    key = re.search(r'<code id="the-key">(alk_[^<]+)</code>', made.text).group(1)  # type: ignore[union-attr]
    event = one_event(node_ctx, before)
    assert (event.action, event.target, event.outcome) == ("users:manage", "/api-keys", "ok")
    assert key not in event.details_json
    assert api.get("/status", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    # never shown again: not on the list, not on any later page
    again = sysadmin.get("/keys")
    assert key not in again.text and 'id="new-key"' not in again.text
    key_id = re.findall(r'<tr data-key="(\d+)" data-revoked="false"', again.text)[-1]
    assert "monitoring" in again.text

    before = last_seq(node_ctx)
    revoked = post(sysadmin, "/keys", f"/keys/{key_id}/revoke")
    assert revoked.status_code == 303
    event = one_event(node_ctx, before)
    assert (event.action, event.target, event.outcome) == ("users:manage", f"/api-keys/{key_id}", "ok")
    assert f'<tr data-key="{key_id}" data-revoked="true"' in sysadmin.get("/keys").text
    assert api.get("/status", headers={"Authorization": f"Bearer {key}"}).status_code == 401


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"name": "reader", "action": ["items:content"]}, 403, "action_not_allowed"),  # never content
        ({"name": "reader", "action": ["items:read"]}, 403, "action_not_allowed"),  # not the sysadmin's own
        ({"name": "nothing"}, 422, "no_actions"),
        ({"name": "", "action": ["status:read"]}, 422, "no_key_name"),
        ({"name": "odd", "action": ["launch:missiles"]}, 422, "unknown_action"),
    ],
)  # fmt: skip
def test_api_keys_beyond_the_makers_powers_are_refused(
    api: Any, node_ctx: Any, people: People, form: dict[str, Any], status: int, code: str
) -> None:
    sysadmin = as_person(api, people, "system_admin")
    keys_before = api.get("/api-keys", headers=people.auth("system_admin")).json()["api_keys"]
    before = last_seq(node_ctx)
    refused = post(sysadmin, "/keys", "/keys", form)
    assert refused.status_code == status and reason(refused) == code and 'id="new-key"' not in refused.text
    assert one_event(node_ctx, before).outcome == ("denied" if status == 403 else "failed")
    assert api.get("/api-keys", headers=people.auth("system_admin")).json()["api_keys"] == keys_before


# -- security admin: roles ------------------------------------------------------------------------------------
def test_the_security_admin_grants_and_revokes_roles_the_approver_on_chain(
    api: Any, node_ctx: Any, people: People
) -> None:
    from anchor.roles_chain import is_approver

    sysadmin = as_person(api, people, "system_admin")
    post(sysadmin, "/accounts", "/accounts", {"username": "hana", "password": NEW_PASSWORD})
    secadmin = as_person(api, people, "security_admin")
    page = secadmin.get("/roles")
    assert page.status_code == 200 and 'data-user="hana" data-roles=""' in page.text
    assert '<option value="hana">' in page.text and '<option value="sysadmin">' not in page.text  # officers: no

    before = last_seq(node_ctx)
    done = post(secadmin, "/roles", "/roles", {"user": "hana", "role": "borrower"})
    assert done.status_code == 303 and done.headers["location"] == "/roles?notice=officers.role_granted"
    event = one_event(node_ctx, before)
    assert (event.action, event.target, event.outcome, event.principal_name) == (
        "roles:grant", "/users/hana", "ok", "secadmin")  # fmt: skip
    assert json.loads(event.details_json)["op"] == "grant"
    assert user_state(api, people, "hana")["roles"] == ["borrower"]

    chain, roles_address = node_ctx.chain(), node_ctx.settings.roles_address
    address = user_state(api, people, "hana")["chain_address"]
    password = people.passwords["security_admin"]
    for form, status, code in (({}, 422, "password_required"), ({"password": "not my password"}, 401,
                                                                   "bad_credentials")):  # fmt: skip
        before = last_seq(node_ctx)
        refused = post(secadmin, "/roles", "/roles", {"user": "hana", "role": "approver", **form})
        assert refused.status_code == status and reason(refused) == code, refused.text[:3000]
        assert one_event(node_ctx, before).outcome == ("denied" if status == 401 else "failed")
        assert user_state(api, people, "hana")["roles"] == ["borrower"] and not is_approver(chain, roles_address,
                                                                                             address)  # fmt: skip
    before = last_seq(node_ctx)
    granted = post(secadmin, "/roles", "/roles", {"user": "hana", "role": "approver", "password": password})
    assert granted.status_code == 303
    assert one_event(node_ctx, before).outcome == "ok"
    assert user_state(api, people, "hana")["roles"] == ["approver", "borrower"]
    assert is_approver(chain, roles_address, address)
    page = secadmin.get("/roles")
    assert 'data-user="hana" data-roles="approver borrower"' in page.text

    before = last_seq(node_ctx)
    revoked = post(secadmin, "/roles", "/roles", {"user": "hana", "role": "approver", "change": "revoke",
                                                  "password": password})  # fmt: skip
    assert revoked.status_code == 303 and revoked.headers["location"] == "/roles?notice=officers.role_revoked"
    event = one_event(node_ctx, before)
    assert (event.action, event.outcome, json.loads(event.details_json)["op"]) == ("roles:grant", "ok", "revoke")
    assert user_state(api, people, "hana")["roles"] == ["borrower"] and not is_approver(chain, roles_address, address)


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"user": "borrower", "role": "wizard"}, 422, "unknown_role"),
        ({"user": "borrower", "role": "system_admin"}, 403, "officer_change_needs_two"),
        ({"user": "secadmin", "role": "borrower"}, 403, "own_roles"),
        ({"user": "sysadmin", "role": "borrower"}, 409, "officer_with_business_role"),
        ({"user": "nobody", "role": "borrower"}, 404, "user_not_found"),
        ({"user": "", "role": "borrower"}, 404, "user_not_found"),
    ],
)  # fmt: skip
def test_role_changes_the_rules_forbid_show_why_and_change_nothing(
    api: Any, node_ctx: Any, people: People, form: dict[str, str], status: int, code: str
) -> None:
    secadmin = as_person(api, people, "security_admin")
    roles_before = {u["username"]: u["roles"] for u in api.get("/users", headers=people.auth("security_admin")).json()[
        "users"]}  # fmt: skip
    before = last_seq(node_ctx)
    refused = post(secadmin, "/roles", "/roles", form)
    assert refused.status_code == status and reason(refused) == code
    assert 'class="error"' in refused.text and "error.generic" not in refused.text
    one_event(node_ctx, before)
    roles_after = {u["username"]: u["roles"] for u in api.get("/users", headers=people.auth("security_admin")).json()[
        "users"]}  # fmt: skip
    assert roles_after == roles_before


# -- password resets: started by the system admin, confirmed by the security admin ----------------------------
def test_a_password_reset_needs_both_officers(api: Any, node_ctx: Any, people: People) -> None:
    sysadmin, secadmin = as_person(api, people, "system_admin"), as_person(api, people, "security_admin")
    assert 'id="no-resets"' in secadmin.get("/password-resets").text
    new_password = "reset by the system admin 2027"
    before = last_seq(node_ctx)
    started = post(sysadmin, "/accounts", "/accounts/borrower/password", {"password": new_password})
    assert started.status_code == 303 and started.headers["location"] == "/accounts?notice=officers.reset_started"
    event = one_event(node_ctx, before)
    assert (event.action, event.target, event.outcome) == ("users:manage", "/users/borrower", "ok")
    assert 'data-user="borrower" data-state="pending"' in sysadmin.get("/accounts").text
    refused = login(browser(api), "borrower", new_password)
    assert refused.status_code == 401 and reason(refused) == "reset_not_confirmed"
    # a short password is refused and changes nothing
    short = post(sysadmin, "/accounts", "/accounts/approver/password", {"password": "short"})
    assert short.status_code == 422 and reason(short) == "password_too_short"
    assert login(browser(api), "approver", PEOPLE_PASSWORD).status_code == 303

    home = secadmin.get("/")
    assert 'id="dash-resets"' in home.text and "<code>borrower</code>" in home.text
    page = secadmin.get("/password-resets")
    assert '<tr data-user="borrower">' in page.text
    assert sysadmin.get("/password-resets").status_code == 403  # the one who resets cannot confirm
    before = last_seq(node_ctx)
    confirmed = post(secadmin, "/password-resets", "/password-resets/borrower/confirm")
    assert confirmed.status_code == 303
    event = one_event(node_ctx, before)
    assert (event.action, event.target, event.outcome, event.principal_name) == (
        "roles:grant", "/users/borrower", "ok", "secadmin")  # fmt: skip
    assert 'id="no-resets"' in secadmin.get("/password-resets").text
    # confirming again: nothing to confirm, said on the page
    again = post(secadmin, "/password-resets", "/password-resets/borrower/confirm")
    assert again.status_code == 409 and reason(again) == "no_reset_pending"
    # the user logs in with the new password and must change it first
    assert login(browser(api), "borrower", new_password).headers["location"] == "/password"


# -- officer role changes: one proposes, another confirms -------------------------------------------------------
def test_an_officer_change_is_proposed_by_one_officer_and_confirmed_by_another(
    api: Any, node_ctx: Any, people: People
) -> None:
    sysadmin = as_person(api, people, "system_admin")
    post(sysadmin, "/accounts", "/accounts", {"username": "ivan", "password": NEW_PASSWORD})
    secadmin, secauditor = as_person(api, people, "security_admin"), as_person(api, people, "security_auditor")
    before = last_seq(node_ctx)
    proposed = post(sysadmin, "/officer-changes", "/officer-changes",
                    {"user": "ivan", "role": "security_auditor", "change": "grant"})  # fmt: skip
    assert proposed.status_code == 303 and proposed.headers["location"] == "/officer-changes?notice=officers.proposed"
    event = one_event(node_ctx, before)
    assert (event.action, event.target, event.outcome) == ("officers:propose", "/officer-proposals", "ok")
    proposal = re.search(r'<tr data-proposal="(\w+)">', sysadmin.get("/officer-changes").text).group(1)  # type: ignore[union-attr]
    # the proposer has nothing to confirm; the two others see it on their home page
    assert f'data-proposal="{proposal}"' not in sysadmin.get("/").text
    for other in (secadmin, secauditor):
        home = other.get("/")
        assert 'id="dash-proposals"' in home.text and f'data-proposal="{proposal}"' in home.text
        assert "<code>ivan</code>" in home.text
    assert f'action="/officer-changes/{proposal}/confirm"' not in sysadmin.get("/officer-changes").text
    own = post(sysadmin, "/officer-changes", f"/officer-changes/{proposal}/confirm")
    assert own.status_code == 403 and reason(own) == "same_officer"
    assert user_state(api, people, "ivan")["roles"] == []

    before = last_seq(node_ctx)
    done = post(secauditor, "/officer-changes", f"/officer-changes/{proposal}/confirm")
    assert done.status_code == 303
    event = one_event(node_ctx, before)
    assert (event.action, event.outcome, event.principal_name) == ("officers:confirm", "ok", "secauditor")
    assert user_state(api, people, "ivan")["roles"] == ["security_auditor"]
    closed = post(secadmin, "/officer-changes", f"/officer-changes/{proposal}/confirm")
    assert closed.status_code == 409 and reason(closed) == "proposal_closed"
    # a business role is not proposed here
    wrong = post(sysadmin, "/officer-changes", "/officer-changes", {"user": "borrower", "role": "approver"})
    assert wrong.status_code == 403 and reason(wrong) == "not_officer_role"


# -- each officer only their own powers ------------------------------------------------------------------------
def test_each_officer_gets_403_on_the_other_officers_pages_and_business_users_on_all(
    api: Any, node_ctx: Any, people: People
) -> None:
    for role in ("system_admin", "security_admin", "security_auditor", "borrower", "approver", "archivist"):
        client = as_person(api, people, role)
        username = USERNAMES.get(role, role)
        home = client.get("/")
        nav = set(re.findall(r'<a href="(/[\w\-]*)">', home.text))
        for page, allowed in OFFICER_PAGES.items():
            answer = client.get(page)
            if username in allowed:
                assert answer.status_code == 200, (role, page)
                assert page in nav, (role, page)
            else:
                assert answer.status_code == 403 and reason(answer) == "forbidden", (role, page)
                assert page not in nav and f'href="{page}"' not in home.text, (role, page)
    # posting a wrong role's form is refused too, one denied event, nothing made
    borrower = as_person(api, people, "borrower")
    for action, form in (("/accounts", {"username": "mallory", "password": NEW_PASSWORD}),
                         ("/roles", {"user": "borrower", "role": "approver"}),
                         ("/keys", {"name": "k", "action": ["status:read"]}),
                         ("/password-resets/borrower/confirm", {}),
                         ("/officer-changes", {"user": "borrower", "role": "system_admin"})):  # fmt: skip
        before = last_seq(node_ctx)
        refused = post(borrower, "/", action, form)
        assert refused.status_code == 403 and reason(refused) in ("forbidden", "not_an_officer"), action
        assert one_event(node_ctx, before).outcome == "denied", action
    secauditor = as_person(api, people, "security_auditor")
    refused = post(secauditor, "/", "/roles", {"user": "borrower", "role": "approver"})
    assert refused.status_code == 403
    assert "mallory" not in usernames(node_ctx)


def test_officer_forms_without_their_csrf_token_are_refused(api: Any, node_ctx: Any, people: People) -> None:
    sysadmin = as_person(api, people, "system_admin")
    secadmin = as_person(api, people, "security_admin")
    for client, action, form, what in (
        (sysadmin, "/accounts", {"username": "trudy", "password": NEW_PASSWORD}, "users:manage"),
        (sysadmin, "/keys", {"name": "k", "action": "status:read"}, "users:manage"),
        (secadmin, "/roles", {"user": "borrower", "role": "approver"}, "roles:grant"),
        (secadmin, "/officer-changes", {"user": "borrower", "role": "system_admin"}, "officers:propose"),
    ):  # fmt: skip
        for token in (None, "0" * 64):
            before = last_seq(node_ctx)
            refused = client.post(action, data=form if token is None else {**form, "csrf_token": token})
            assert refused.status_code == 403 and reason(refused) == "csrf_failed", action
            event = one_event(node_ctx, before)
            assert (event.action, event.outcome) == (what, "denied")
    assert "trudy" not in usernames(node_ctx)
    assert user_state(api, people, "borrower")["roles"] == ["borrower"]


# -- the home page: each officer's to-dos, the borrower's loans ending soon ----------------------------------------
def test_the_home_page_shows_officers_their_own_work(api: Any, people: People) -> None:
    cards = {"dash-accounts", "dash-resets", "dash-proposals", "dash-audit", "dash-ending"}
    expected = {
        "system_admin": {"dash-accounts", "dash-proposals"},
        "security_admin": {"dash-resets", "dash-proposals"},
        "security_auditor": {"dash-audit", "dash-proposals"},
        "borrower": {"dash-ending"}, "approver": set(), "auditor": set(),
    }  # fmt: skip
    for role, shown in expected.items():
        page = as_person(api, people, role).get("/")
        assert page.status_code == 200
        assert {c for c in cards if f'id="{c}"' in page.text} == shown, role
    sysadmin_home = as_person(api, people, "system_admin").get("/").text
    assert "共 7 个账号，其中 0 个已停用。" in sysadmin_home  # the people fixture's: 4 business users, 3 officers


def test_the_borrower_sees_loans_ending_soon(api: Any, node_ctx: Any, people: People) -> None:
    from tests.helpers.api import upload

    item = upload(api, b"an item lent for a short while").json()["id"]
    loans = {}
    for purpose, days in (("short", 2), ("long", 20), ("pending", 1)):
        body = {"items": [item], "purpose": purpose, "days": days}
        r = api.post("/loans", json=body, headers=people.auth("borrower"))
        assert r.status_code == 201, r.text
        loans[purpose] = r.json()["id"]
    with node_ctx.sessions() as s, s.begin():  # approved (the approve flow itself is tested in lending)
        for purpose in ("short", "long"):
            loan = s.get(Loan, loans[purpose])
            loan.status, loan.decided_at = LoanStatus.APPROVED, datetime.now(UTC)
    page = as_person(api, people, "borrower").get("/")
    ending = page.text.split('id="dash-ending"')[1].split("</section>")[0]
    assert f'data-loan="{loans["short"]}"' in ending
    assert loans["long"] not in ending and loans["pending"] not in ending  # far off, or not approved
    with node_ctx.sessions() as s, s.begin():
        s.get(Loan, loans["short"]).expires_at = datetime.now(UTC) + timedelta(days=30)
    assert "三天内没有到期的借阅。" in as_person(api, people, "borrower").get("/").text


def test_every_officer_message_the_pages_name_exists() -> None:
    source = Path(__file__).resolve().parents[3] / "node" / "users" / "officer_pages.py"
    named = set(re.findall(r'"(officers\.[a-z_.]+)"', source.read_text(encoding="utf-8")))
    assert len(named) >= 10
    assert named <= set(web.catalogue("zh-CN")) & set(web.catalogue("en")), sorted(named - set(web.catalogue("en")))
