"""The web UI's core without a browser (issue 11): the session cookie and its CSRF token, the forced
password change, the language switch and its catalogue, the security headers, the HTML error pages,
the vendored htmx, and templates free of hard-coded text and inline code. The browser tests are in
tests/e2e/test_web_browser.py."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from node.core import web
from node.core.models import AuditEvent, LoanStatus
from node.core.roles import Role
from tests.helpers.people import PEOPLE_PASSWORD, People

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser(api: Any, base_url: str = "http://testserver") -> TestClient:
    """A cookie-holding client with no bearer credential, like a browser."""
    return TestClient(api.app, base_url=base_url, follow_redirects=False, headers={"Accept": "text/html"})


def csrf_of(page: Any) -> str:
    found = CSRF_RE.search(page.text)
    assert found, page.text[:2000]
    return found.group(1)


def login(client: TestClient, username: str, password: str, **extra: str) -> Any:
    token = csrf_of(client.get("/login"))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token, **extra})


def events(node_ctx: Any, after: int = 0) -> list[AuditEvent]:
    with node_ctx.reader() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq)))


def last_seq(node_ctx: Any) -> int:
    rows = events(node_ctx)
    return rows[-1].seq if rows else 0


# -- catalogue and templates ----------------------------------------------------------------------------
def template_files() -> list[Path]:
    return [p for d in web.TEMPLATE_DIRS for p in d.rglob("*.html")]


def test_both_languages_have_the_same_messages() -> None:
    zh, en = web.catalogue("zh-CN"), web.catalogue("en")
    assert set(zh) == set(en)
    assert all(zh.values()) and all(en.values())
    for key in zh:  # the same placeholders in both
        assert set(re.findall(r"\{(\w+)\}", zh[key])) == set(re.findall(r"\{(\w+)\}", en[key])), key
    # codes shown through a prefix are all there
    assert {f"role.{r.value}" for r in Role} <= set(zh)
    assert {f"status.{s.value}" for s in LoanStatus} <= set(zh)
    assert {f"outcome.{o}" for o in ("ok", "denied", "failed")} <= set(zh)
    assert {f"lang.{code}" for code in web.LANGUAGES} <= set(zh)
    from anchor.models import CheckpointStatus

    assert {f"checkpoint.{s.value}" for s in CheckpointStatus} <= set(zh)


def test_every_message_a_template_names_exists() -> None:
    keys = set(web.catalogue("zh-CN"))
    used = set()
    for path in template_files():
        used |= set(re.findall(r"""\bt\(\s*["']([\w.\-]+)["']""", path.read_text(encoding="utf-8")))
    for path in (Path(web.NODE_DIR)).glob("*/pages.py"):  # notices and errors named in the page code
        used |= set(re.findall(r'"((?:inbox|loans|login|password)\.[a-z_]+)"', path.read_text()))
    used = {k for k in used if not k.endswith((".", "_"))}  # prefixes of computed keys (checked above)
    assert len(used) > 50
    assert used <= keys, sorted(used - keys)


def test_templates_hold_no_hard_coded_text_and_no_inline_code() -> None:
    for path in template_files():
        source = path.read_text(encoding="utf-8")
        text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", source, flags=re.S)
        text = re.sub(r"<!doctype html>|<[^>]*>", " ", text, flags=re.S | re.I)
        leftover = re.sub(r"[\s#→·|:/()\-–,.]+", "", text)
        assert leftover == "", f"{path}: hard-coded text {leftover[:80]!r}"
        assert not re.search(r"<script(?![^>]*\bsrc=)", source), f"{path}: inline script"
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", source, re.I), f"{path}: inline style or handler"
        for attribute in re.findall(r'(?:title|placeholder|aria-label|alt)="([^"{]+)"', source):
            pytest.fail(f"{path}: hard-coded attribute text {attribute!r}")


def test_vendored_htmx_is_the_recorded_file() -> None:
    table = (web.STATIC_DIR / "VENDORED.md").read_text(encoding="utf-8")
    row = next(line for line in table.splitlines() if line.startswith("| htmx.min.js"))
    version, digest = row.split("|")[3].strip(), row.split("|")[4].strip()
    assert version.startswith("2.0.")
    assert hashlib.sha256((web.STATIC_DIR / "htmx.min.js").read_bytes()).hexdigest() == digest


# -- headers, login, CSRF -------------------------------------------------------------------------------
def test_pages_carry_a_strict_csp_and_security_headers(api: Any) -> None:
    client = browser(api)
    page = client.get("/login")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert '<html lang="zh-CN">' in page.text and "登录" in page.text  # Chinese first
    js = client.get("/static/htmx.min.js")
    assert js.status_code == 200 and js.headers["x-content-type-options"] == "nosniff"
    api_answer = client.get("/health")  # the JSON API is unchanged
    assert "content-security-policy" not in api_answer.headers


def test_login_sets_a_strict_session_cookie_and_the_home_page_follows(api: Any, people: People) -> None:
    client = browser(api)
    answer = login(client, "approver", PEOPLE_PASSWORD, next="/inbox")
    assert answer.status_code == 303 and answer.headers["location"] == "/inbox"
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("al_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # plain HTTP here; see the TLS test below
    home = client.get("/")
    assert home.status_code == 200 and 'id="dash-approvals"' in home.text and 'id="dash-loans"' not in home.text
    assert client.get("/inbox").status_code == 200
    assert client.get("/my-loans").status_code == 403  # an approver is no borrower: refused, in HTML
    assert 'data-reason="forbidden"' in client.get("/audit-trail").text


def test_cookie_is_secure_under_tls(api: Any, people: People) -> None:
    client = browser(api, "https://testserver")
    answer = login(client, "borrower", PEOPLE_PASSWORD)
    assert answer.status_code == 303
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("al_session="))
    assert "Secure" in cookie


def test_wrong_password_shows_the_form_again_and_is_audited(api: Any, node_ctx: Any, people: People) -> None:
    client = browser(api)
    before = last_seq(node_ctx)
    answer = login(client, "borrower", "not the password at all")
    assert answer.status_code == 401 and 'data-reason="bad_credentials"' in answer.text
    assert "al_session" not in answer.headers.get("set-cookie", "")
    new = events(node_ctx, before)
    assert [(e.action, e.outcome) for e in new] == [("auth:login", "denied")]


def test_open_redirects_are_refused(api: Any, people: People) -> None:
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        answer = login(browser(api), "borrower", PEOPLE_PASSWORD, next=evil)
        assert answer.headers["location"] == "/", evil


def test_a_form_without_its_csrf_token_is_refused_and_audited(api: Any, node_ctx: Any, people: People) -> None:
    client = browser(api)
    assert login(client, "borrower", PEOPLE_PASSWORD).status_code == 303
    before = last_seq(node_ctx)
    form = {"items": "x", "purpose": "thesis", "days": "7"}
    for token in (None, "0" * 64, csrf_of(browser(api).get("/login"))):  # none, wrong, another session's
        data = form if token is None else {**form, "csrf_token": token}
        refused = client.post("/my-loans/new", data=data)
        assert refused.status_code == 403 and 'data-reason="csrf_failed"' in refused.text
    new = events(node_ctx, before)
    assert [(e.action, e.outcome, e.principal_name) for e in new] == [("loans:request", "denied", "borrower")] * 3
    assert all(json.loads(e.details_json)["reason"] == "csrf_failed" for e in new)
    # with the page's own token the same form goes through to the service (here: an unknown item)
    page = client.get("/my-loans/new")
    answer = client.post("/my-loans/new", data={**form, "csrf_token": csrf_of(page)})
    assert answer.status_code == 404 and 'data-reason="item_not_found"' in answer.text
    # an anonymous login form without the pre-session token is refused too (login CSRF)
    anonymous = browser(api)
    assert anonymous.post("/login", data={"username": "borrower", "password": PEOPLE_PASSWORD}).status_code == 403


def test_logout_ends_the_session_token(api: Any, node_ctx: Any, people: People) -> None:
    client = browser(api)
    login(client, "auditor", PEOPLE_PASSWORD)
    token = client.cookies.get("al_session")
    page = client.get("/profile")
    before = last_seq(node_ctx)
    answer = client.post("/logout", data={"csrf_token": csrf_of(page)})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert [(e.action, e.outcome) for e in events(node_ctx, before)] == [("auth:logout", "ok")]
    # the token is dead for the API too
    assert api.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_an_expired_session_goes_back_to_the_login_page(api: Any, people: People) -> None:
    client = browser(api)
    login(client, "borrower", PEOPLE_PASSWORD)
    token = client.cookies.get("al_session")
    api.post("/auth/logout", headers={"Authorization": f"Bearer {token}"})  # ended elsewhere (or timed out)
    answer = client.get("/my-loans?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fmy-loans%3Fx%3D1&notice=login.expired"
    assert 'al_session=""' in answer.headers["set-cookie"] or "Max-Age=0" in answer.headers["set-cookie"]
    # without Accept: text/html (a script) the answer is a plain 401 page
    assert browser(api).get("/", headers={"Accept": "*/*"}).status_code == 401
    # a form posted with the dead session: 401 with a way to the login (a denied event, not a redirect's ok)
    client.cookies.set("al_session", token)
    posted = client.post("/my-loans/new", data={"items": "x", "purpose": "p", "days": "3", "csrf_token": "stale"})
    assert posted.status_code == 401 and 'id="to-login"' in posted.text


def test_first_login_forces_a_password_change(api: Any, node_ctx: Any, people: People) -> None:
    from node.core.models import UserRole
    from node.users import service as users

    with node_ctx.sessions() as s, s.begin():
        user = users.create_user(s, "newcomer", PEOPLE_PASSWORD)
        user.password_reset_state = users.MUST_CHANGE
        s.add(UserRole(user_id=user.id, role="borrower"))
    client = browser(api)
    answer = login(client, "newcomer", PEOPLE_PASSWORD, next="/my-loans")
    assert answer.status_code == 303 and answer.headers["location"] == "/password"
    for page in ("/", "/my-loans"):  # everything else waits for the new password
        assert client.get(page).headers["location"] == "/password"
    form = client.get("/password")
    assert form.status_code == 200 and 'id="forced"' in form.text
    token = csrf_of(form)
    differ = client.post("/password", data={"old_password": PEOPLE_PASSWORD, "new_password": "x" * 20,
                                            "repeat_password": "y" * 20, "csrf_token": token})  # fmt: skip
    assert differ.status_code == 422 and 'data-reason="passwords_differ"' in differ.text
    short = client.post("/password", data={"old_password": PEOPLE_PASSWORD, "new_password": "short",
                                           "repeat_password": "short", "csrf_token": token})  # fmt: skip
    assert short.status_code == 422 and 'data-reason="password_too_short"' in short.text
    new_password = "a brand new password 2027"
    done = client.post("/password", data={"old_password": PEOPLE_PASSWORD, "new_password": new_password,
                                          "repeat_password": new_password, "csrf_token": token})  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == "/login?notice=password.changed"
    assert login(browser(api), "newcomer", PEOPLE_PASSWORD).status_code == 401
    again = browser(api)
    assert login(again, "newcomer", new_password).headers["location"] == "/"
    assert again.get("/my-loans").status_code == 200


def test_language_switch_and_the_english_catalogue(api: Any, people: People) -> None:
    client = browser(api)
    page = client.get("/login")
    assert "登录" in page.text
    answer = client.post("/lang", data={"lang": "en", "next": "/login", "csrf_token": csrf_of(page)})
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    english = client.get("/login")
    assert '<html lang="en">' in english.text and "Log in" in english.text and "登录" not in english.text
    # an unknown language changes nothing; the default stays Chinese for others
    client.post("/lang", data={"lang": "xx", "next": "/login", "csrf_token": csrf_of(english)})
    assert '<html lang="en">' in client.get("/login").text
    assert '<html lang="zh-CN">' in browser(api).get("/login").text


def test_login_is_rate_limited_like_the_api(api: Any, node_ctx: Any, people: People) -> None:
    client = browser(api)
    limit = node_ctx.settings.login_max_failures
    for _ in range(limit):
        assert login(client, "archivist", "wrong password, again").status_code == 401
    locked = login(client, "archivist", PEOPLE_PASSWORD)  # the right password, but locked out
    assert locked.status_code == 429 and 'data-reason="login_locked"' in locked.text
    assert int(locked.headers["retry-after"]) >= 1
    # the same counter as POST /auth/login
    assert api.post("/auth/login", json={"username": "archivist", "password": PEOPLE_PASSWORD}).status_code == 429


# -- lending pages without a chain: what the inbox refuses, rejecting several at once ---------------------
def test_inbox_refusals_and_rejecting_several_at_once(api: Any, node_ctx: Any, people: People) -> None:
    from tests.helpers.api import upload

    item = upload(api, b"an item to lend").json()["id"]
    loans = []
    for purpose in ("first", "second"):
        r = api.post("/loans", json={"items": [item], "purpose": purpose, "days": 3}, headers=people.auth("borrower"))
        assert r.status_code == 201, r.text
        loans.append(r.json()["id"])
    client = browser(api)
    login(client, "approver", PEOPLE_PASSWORD)
    page = client.get("/inbox")
    assert all(f'data-loan="{loan}"' in page.text for loan in loans)
    token = csrf_of(page)
    for data, reason in (({"decision": "reject", "reason": "no"}, "inbox.none_chosen"),
                         ({"decision": "reject", "loan": loans}, "inbox.reason_needed"),
                         ({"decision": "approve", "loan": loans}, "inbox.password_needed")):  # fmt: skip
        before = last_seq(node_ctx)
        refused = client.post("/inbox", data={**data, "csrf_token": token})
        assert refused.status_code == 422 and f'data-reason="{reason}"' in refused.text
        new = events(node_ctx, before)  # exactly one event for the request, and nothing decided
        assert [(e.action, e.outcome) for e in new] == [("loans:decide", "failed")], reason
    states = {api.get(f"/loans/{loan}", headers=people.auth("approver")).json()["status"] for loan in loans}
    assert states == {"REQUESTED"}
    before = last_seq(node_ctx)
    done = client.post("/inbox", data={"decision": "reject", "loan": loans, "reason": "不符合规定",
                                       "csrf_token": token})  # fmt: skip
    assert done.status_code == 200 and done.text.count('class="ok"') == 2 and 'id="inbox-empty"' in done.text
    new = events(node_ctx, before)  # one event per decision, as one API call per loan would write
    assert sorted(e.target for e in new) == sorted(f"loan:{loan}" for loan in loans)
    assert {(e.action, e.outcome, json.loads(e.details_json)["reason"]) for e in new} == {
        ("loans:decide", "ok", "不符合规定")}
    # deciding again: each loan refused on its own (already decided), the page says so
    again = client.post("/inbox", data={"decision": "reject", "loan": loans[:1], "reason": "x", "csrf_token": token})
    assert 'data-reason="invalid_state"' in again.text and "该申请已被处理。" in again.text
    # the borrower sees the rejection and its reason
    mine = browser(api)
    login(mine, "borrower", PEOPLE_PASSWORD)
    text = mine.get("/my-loans").text
    assert text.count("已驳回") == 2 and "不符合规定" in text


def test_audit_trail_filters_export_and_verify(api: Any, node_ctx: Any, people: People) -> None:
    client = browser(api)
    login(client, "secauditor", people.passwords["security_auditor"])
    login(browser(api), "borrower", "a wrong password, twice")  # a denied auth:login to find
    page = client.get("/audit-trail", params={"action": "auth:login", "outcome": "denied"})
    assert page.status_code == 200
    rows = re.findall(r'<tr class="outcome-(\w+)" data-seq="(\d+)"', page.text)
    assert rows and {outcome for outcome, _ in rows} == {"denied"}
    seqs = [int(seq) for _, seq in rows]
    assert seqs == sorted(seqs, reverse=True)  # newest first
    by_actor = client.get("/audit-trail", params={"actor": "secauditor", "action": "auth:login"}).text
    assert len(re.findall(r"<tr class=\"outcome-ok\"", by_actor)) == 2  # the fixture's API login and this one
    assert 'id="no-events"' in client.get("/audit-trail", params={"since": "2999-01-01"}).text
    before = last_seq(node_ctx)
    exported = client.get("/audit-trail/export", params={"action": "auth:login", "outcome": "denied"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    lines = exported.text.strip().splitlines()
    assert lines[0].startswith("seq,") and len(lines) - 1 == len(rows)
    assert [(e.action, e.outcome) for e in events(node_ctx, before)] == [("audit:read", "ok")]  # an audited read
    verify = client.get("/audit-trail/verify")
    assert verify.status_code == 200 and 'data-ok="true"' in verify.text


def test_the_home_page_shows_each_role_its_own_work(api: Any, people: People) -> None:
    sections = {"dash-approvals", "dash-loans", "dash-alerts", "dash-audit"}
    expected = {"approver": {"dash-approvals"}, "borrower": {"dash-loans"}, "archivist": {"dash-alerts"},
                "security_auditor": {"dash-audit"}, "auditor": set(), "system_admin": set()}  # fmt: skip
    for role, shown in expected.items():
        page = api.get("/", headers={**people.auth(role), "Accept": "text/html"})
        assert page.status_code == 200, (role, page.text[:500])
        assert {s for s in sections if f'id="{s}"' in page.text} == shown, role
        nav = set(re.findall(r'<a href="(/[\w\-]*)">', page.text))
        assert ("/inbox" in nav) == (role == "approver") and ("/audit-trail" in nav) == (role == "security_auditor")


def test_checkpoint_browser_per_fonds_log(api: Any, people: People) -> None:
    from tests.helpers.api import upload

    upload(api, b"an item to anchor")
    assert api.post("/anchor").status_code == 200
    client = browser(api)
    login(client, "auditor", PEOPLE_PASSWORD)
    page = client.get("/checkpoint-log")
    assert page.status_code == 200
    logs = re.findall(r'<tr data-log="([^"]+)" data-size="(\d+)"', page.text)
    assert logs and all(int(size) >= 1 for _, size in logs)
    fonds = logs[0][0]
    one = client.get("/checkpoint-log", params={"fonds": fonds}).text
    assert {code for code, _ in re.findall(r'<tr data-log="([^"]+)" data-size="(\d+)"', one)} == {fonds}
    assert re.search(r"<code>0x[0-9a-f]{64}</code>", one)  # the anchoring transaction
    assert 'id="no-checkpoints"' in client.get("/checkpoint-log", params={"fonds": "NOPE"}).text
    borrower = browser(api)
    login(borrower, "borrower", PEOPLE_PASSWORD)
    assert borrower.get("/checkpoint-log").status_code == 403  # status:read, as GET /checkpoints


def test_a_notice_shows_only_the_node_s_own_messages(api: Any) -> None:
    client = browser(api)
    assert "已退出登录。" in client.get("/login", params={"notice": "login.logged_out"}).text
    crafted = client.get("/login", params={"notice": "Call 555-0100 to unlock your account"}).text
    assert "555-0100" not in crafted and 'class="notice"' not in crafted
