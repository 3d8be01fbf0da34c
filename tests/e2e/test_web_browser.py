"""The web UI in a real browser (issue 11): Debian's chromium driven by Playwright against a real node
server (`archive-ledger serve` on a real ganache), one server for the module, one browser context per
person. Login by keyboard only, the forced password change, the language switch, a CSRF refusal, a
refused page for a wrong role, and the lending flow across three people: the borrower requests, the
approver rejects one request and approves another with their password, the borrower sees the outcome
and returns the loan, the security auditor finds the decisions in the trail and verifies it.

Every page is also checked for Content-Security-Policy violations (none: no inline code anywhere).
Set ARCHIVE_LEDGER_SCREENSHOTS=<dir> to keep screenshots of the main pages (`make screenshots`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.browser import (  # noqa: F401  (fixtures: browser_type_launch_args, site_fixture)
    PASSWORD,
    Site,
    browser_type_launch_args,
    expect,
    log_in,
    person,
    shot,
    site_fixture,
)
from tests.helpers.ganache_fixture import ganache_url  # noqa: F401  (the fixture `site` needs)

pytestmark = [pytest.mark.e2e, pytest.mark.ganache, pytest.mark.browser, pytest.mark.slow]


def test_keyboard_login_forced_password_change_and_language(browser: Any, site: Site) -> None:
    page = person(browser, site)
    page.goto("/my-loans")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fmy-loans"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    shot(page, "login")
    # keyboard only: the username field has the focus; Tab to the password, Enter submits
    expect(page.locator("#username")).to_be_focused()
    page.keyboard.type("dora")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/password$"))  # first login: the new password comes first
    expect(page.locator("#forced")).to_be_visible()
    page.goto("/my-loans")
    expect(page).to_have_url(re.compile(r"/password$"))
    new_password = "dora's own new password 2027"
    page.fill("#old_password", PASSWORD)
    page.fill("#new_password", new_password)
    page.fill("#repeat_password", new_password)
    page.click("#change")
    expect(page).to_have_url(re.compile(r"/login\?notice=password.changed"))
    expect(page.locator(".notice")).to_have_text("密码已修改，请用新密码登录。")
    log_in(page, "dora", new_password)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#dash-loans")).to_be_visible()
    # switch to English and back: every label follows, the choice is remembered
    page.click("button[name=lang][value=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Hello, dora")
    page.goto("/profile")
    expect(page.locator("#profile-roles")).to_contain_text("Borrower")
    page.click("button[name=lang][value=zh-CN]")
    expect(page.locator("#profile-roles")).to_contain_text("借阅人")
    # the session ends elsewhere (its token revoked, as at expiry): the next page is the login, then back
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "al_session")
    assert httpx.post(f"{site.url}/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    page.goto("/my-loans")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fmy-loans&notice=login.expired"))
    expect(page.locator(".notice")).to_have_text("会话已过期，请重新登录。")
    page.fill("#username", "dora")
    page.fill("#password", new_password)
    page.click("#login")
    expect(page).to_have_url(re.compile(r"/my-loans$"))
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F"))
    assert not site.csp_violations


def test_a_wrong_role_is_refused_and_a_form_without_csrf_is_refused(browser: Any, site: Site) -> None:
    alice = person(browser, site)
    log_in(alice, "alice")
    for path in ("/inbox", "/audit-trail"):
        response = alice.goto(path)
        assert response is not None and response.status == 403
        expect(alice.locator("p.error")).to_have_attribute("data-reason", "forbidden")
    # a form whose CSRF token is gone (as a forged cross-site post would be): 403 and an audit event
    alice.goto("/my-loans/new")
    alice.fill("#items", site.items["A"])
    alice.fill("#purpose", "csrf probe")
    alice.locator("main input[name=csrf_token]").evaluate("e => e.remove()")
    with alice.expect_response(lambda r: r.url.endswith("/my-loans/new") and r.request.method == "POST") as info:
        alice.click("#send")
    assert info.value.status == 403
    expect(alice.locator("p.error")).to_have_attribute("data-reason", "csrf_failed")
    auditor = site.api("secauditor", site.officer_passwords["secauditor"])
    events = auditor.get("/audit/events", params={"action": "loans:request", "outcome": "denied"}).json()["events"]
    assert any(e["details"].get("reason") == "csrf_failed" and e["principal_name"] == "alice" for e in events)
    # nothing was requested
    assert "csrf probe" not in alice.goto("/my-loans").text()  # type: ignore[union-attr]
    assert not site.csp_violations


def test_lending_flow_across_three_people(browser: Any, site: Site) -> None:
    alice, carol, auditor = person(browser, site), person(browser, site), person(browser, site)
    # the borrower asks for three loans
    log_in(alice, "alice")
    asks = (("A", "港口史研究"), ("B", "内部审计抽查"), ("C", "编史修志"))
    for item, purpose in asks:
        alice.goto("/")
        alice.click("#dash-loans >> text=申请借阅")
        if item == "A":  # found by title and ticked
            alice.fill("#q", "文书 A")
            alice.click("#find-button")
            expect(alice.locator("#candidates tbody tr")).to_have_count(1)
            alice.check(f"#item-{site.items['A']}")
        else:  # typed in
            alice.fill("#items", site.items[item])
        alice.fill("#purpose", purpose)
        alice.fill("#days", "5")
        alice.click("#send")
        expect(alice).to_have_url(re.compile(r"/my-loans\?notice=loans.requested"))
    rows = alice.locator("#loans tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first.locator(".status")).to_have_text("待审批")
    shot(alice, "my-loans-requested")

    # the approver: the requests in the inbox with who, purpose, items and period
    log_in(carol, "carol")
    expect(carol.locator("#dash-approvals .count")).to_have_text("3")
    carol.goto("/inbox")
    expect(carol.locator("#decide tbody tr")).to_have_count(3)

    def row(purpose: str) -> Any:
        return carol.locator("#decide tbody tr", has_text=purpose)

    expect(row("港口史研究")).to_contain_text("Alice (alice)")
    expect(row("港口史研究")).to_contain_text("港务局文书 A")
    shot(carol, "inbox")
    # a wrong password approves nothing
    row("港口史研究").locator("input[type=checkbox]").check()
    carol.fill("#password", "not my password at all")
    carol.click("#approve")
    expect(carol.locator("p.error")).to_have_attribute("data-reason", "inbox.wrong_password")
    expect(carol.locator("#decide tbody tr")).to_have_count(3)
    # reject one with a reason
    row("内部审计抽查").locator("input[type=checkbox]").check()
    carol.fill("#reason", "用途不明确")
    carol.click("#reject")
    expect(carol.locator("#results li.ok")).to_have_count(1)
    # approve two at once: tick, tick, password, approve (the key is unlocked for this request only)
    row("港口史研究").locator("input[type=checkbox]").check()
    row("编史修志").locator("input[type=checkbox]").check()
    carol.fill("#password", PASSWORD)
    carol.click("#approve")
    expect(carol.locator("#results li.ok")).to_have_count(2, timeout=60_000)
    expect(carol.locator("#inbox-empty")).to_be_visible()
    expect(carol.locator("#history tbody tr")).to_have_count(3)

    # the borrower sees the outcomes and the time left, returns one loan, keeps the certificates of another
    alice.goto("/my-loans")

    def mine(purpose: str) -> Any:
        return alice.locator("#loans tbody tr", has_text=purpose)

    expect(mine("港口史研究").locator(".status")).to_have_text("已批准")
    expect(mine("港口史研究")).to_contain_text(re.compile(r"4 天 2\d 小时|5 天 0 小时"))
    expect(mine("内部审计抽查")).to_contain_text("用途不明确")
    shot(alice, "my-loans")
    mine("编史修志").locator("form.inline button").click()  # return (the row also has the renew form)
    expect(alice.locator(".notice")).to_have_text("已归还。")
    expect(mine("编史修志").locator(".status")).to_have_text("已归还")
    with alice.expect_download() as download:
        mine("港口史研究").locator("a.certificates").click()
    certificates = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    [entry] = certificates["certificates"]
    assert entry["item_id"] == site.items["A"] and entry["certificate"] is not None

    # the approver revokes the other loan: the borrower's loan ends at once
    carol.goto("/inbox")
    revoke = carol.locator("#history tbody tr", has_text="港口史研究").locator("form.revoke")
    revoke.locator("input[name=password]").fill(PASSWORD)
    revoke.locator("input[name=reason]").fill("项目终止")
    revoke.locator("button").click()
    expect(carol.locator(".notice")).to_have_text("借阅已撤销，借阅人即刻无法再访问。", timeout=60_000)
    alice.reload()
    expect(mine("港口史研究").locator(".status")).to_have_text("已撤销")

    # the security auditor finds the decisions in the trail and verifies it
    log_in(auditor, "secauditor", site.officer_passwords["secauditor"])
    auditor.goto("/audit-trail")
    auditor.fill("input[name=action]", "loans:decide")
    auditor.fill("input[name=actor]", "carol")
    auditor.click("#filter")
    rows = auditor.locator("#events tbody tr")
    expect(rows).to_have_count(4)  # the wrong password (denied), the rejection, the two approvals
    outcomes = sorted(rows.nth(i).get_attribute("class") or "" for i in range(4))
    assert outcomes == ["outcome-denied", "outcome-ok", "outcome-ok", "outcome-ok"], outcomes
    expect(auditor).to_have_url(re.compile(r"action=loans%3Adecide"))  # htmx pushed the filtered URL
    shot(auditor, "audit-trail")
    auditor.click("text=校验审计日志")
    expect(auditor.locator("#verify-result")).to_have_attribute("data-ok", "true")
    shot(auditor, "verify-audit-trail")
    # the anchored checkpoints of the fonds log, with their transactions
    auditor.click("nav >> text=检查点")
    auditor.select_option("#fonds", "Z001")
    auditor.click("#show")
    expect(auditor).to_have_url(re.compile(r"/checkpoint-log\?fonds=Z001$"))
    expect(auditor.locator("#checkpoints tbody tr[data-log='Z001/audit']")).to_have_count(0)
    expect(auditor.locator("#checkpoints tbody tr[data-log='Z001']")).not_to_have_count(0)
    shot(auditor, "checkpoints")
    assert not site.csp_violations
