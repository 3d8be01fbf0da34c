"""The officers' pages in a real browser (issue 11, point 6), against a real node server on a real ganache: the
system admin creates an account; the security admin grants it the borrower role and the approver role (on
chain, signed with the security admin's key unlocked by their password, so the new approver's permit is
accepted by the contract); a password reset started by the system admin and confirmed by the security admin;
an officer role change proposed by one officer and confirmed by another; each officer and a borrower refused
the other officers' pages (the 403 page). Screenshots "accounts" and "roles"."""

from __future__ import annotations

import re
from typing import Any

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

PAGES = {  # officer page -> who may open it
    "/accounts": {"sysadmin"}, "/keys": {"sysadmin"}, "/roles": {"secadmin"}, "/password-resets": {"secadmin"},
    "/officer-changes": {"sysadmin", "secadmin", "secauditor"},
}  # fmt: skip


def officer(browser: Any, site: Site, username: str) -> Any:
    page = person(browser, site)
    log_in(page, username, site.officer_passwords[username])
    expect(page).to_have_url(re.compile(r"/$"))
    return page


def test_accounts_roles_on_chain_and_a_password_reset_by_two_officers(browser: Any, site: Site) -> None:
    sysadmin, secadmin = officer(browser, site, "sysadmin"), officer(browser, site, "secadmin")
    # the system admin creates an account from the accounts page (reached from the navigation)
    sysadmin.click("nav >> a[href='/accounts']")
    sysadmin.fill("#username", "erik")
    sysadmin.fill("#display_name", "Erik")
    sysadmin.fill("#password", PASSWORD)
    sysadmin.uncheck("#must_change_password")
    sysadmin.click("#create")
    expect(sysadmin.locator(".notice")).to_have_text("账号已创建。角色由安全管理员授予。")
    expect(sysadmin.locator("#accounts tr[data-user=erik]")).to_have_attribute("data-state", "active")
    # bad input: the page says why and keeps what was typed
    sysadmin.fill("#username", "erik")
    sysadmin.fill("#password", PASSWORD)
    sysadmin.click("#create")
    expect(sysadmin.locator("p.error")).to_have_attribute("data-reason", "username_taken")
    expect(sysadmin.locator("#username")).to_have_value("erik")
    shot(sysadmin, "accounts")

    # the security admin grants the borrower role, then the approver role (on chain: their password)
    secadmin.click("nav >> a[href='/roles']")
    secadmin.fill("#grant-user", "erik")
    secadmin.select_option("#grant-role-name", "borrower")
    secadmin.click("#grant")
    expect(secadmin.locator(".notice")).to_have_text("角色已授予。")
    expect(secadmin.locator("#roles tr[data-user=erik]")).to_have_attribute("data-roles", "borrower")
    secadmin.fill("#grant-user", "erik")
    secadmin.select_option("#grant-role-name", "approver")
    secadmin.click("#grant")  # no password: nothing changes, the page says what is missing
    expect(secadmin.locator("p.error")).to_have_attribute("data-reason", "password_required")
    secadmin.fill("#grant-user", "erik")
    secadmin.select_option("#grant-role-name", "approver")
    secadmin.fill("#grant-password", site.officer_passwords["secadmin"])
    secadmin.click("#grant")
    expect(secadmin.locator(".notice")).to_have_text("角色已授予。", timeout=60_000)
    expect(secadmin.locator("#roles tr[data-user=erik]")).to_have_attribute("data-roles", "approver borrower")
    shot(secadmin, "roles")
    # on chain for real: the contract accepts erik's permits for alice's loan
    loan = site.api("alice", PASSWORD).post("/loans", json={"items": [site.items["B"]], "purpose": "核对", "days": 2})
    assert loan.status_code == 201, loan.text
    approved = site.api("erik", PASSWORD).post(f"/loans/{loan.json()['id']}/approve", json={"password": PASSWORD})
    assert approved.status_code == 200 and approved.json()["status"] == "APPROVED", approved.text

    # a password reset: the system admin starts it, the account is locked until the security admin confirms
    sysadmin.goto("/accounts")
    new_password = "erik's reset password 2027"
    reset = sysadmin.locator("#accounts tr[data-user=erik] form.reset")
    reset.locator("input[name=password]").fill(new_password)
    reset.locator("button").click()
    expect(sysadmin.locator(".notice")).to_have_text("密码已重置，等待安全管理员确认。")
    expect(sysadmin.locator("#accounts tr[data-user=erik]")).to_have_attribute("data-state", "pending")
    erik = person(browser, site)
    log_in(erik, "erik", new_password)
    expect(erik.locator("p.error")).to_have_attribute("data-reason", "reset_not_confirmed")
    secadmin.goto("/")
    expect(secadmin.locator("#dash-resets")).to_contain_text("erik")
    secadmin.click("#dash-resets >> a[href='/password-resets']")
    secadmin.locator("#pending-resets tr[data-user=erik] button").click()
    expect(secadmin.locator(".notice")).to_have_text("密码重置已确认，用户登录后须先修改密码。")
    expect(secadmin.locator("#no-resets")).to_be_visible()
    log_in(erik, "erik", new_password)
    expect(erik).to_have_url(re.compile(r"/password$"))  # in, but the new password comes first
    expect(erik.locator("#forced")).to_be_visible()
    assert not site.csp_violations


def test_an_officer_change_and_each_officer_refused_the_others_pages(browser: Any, site: Site) -> None:
    site.api("sysadmin", site.officer_passwords["sysadmin"]).post(
        "/users", json={"username": "olga", "password": PASSWORD, "must_change_password": False})  # fmt: skip
    people = {name: officer(browser, site, name) for name in ("sysadmin", "secadmin", "secauditor")}
    alice = person(browser, site)
    log_in(alice, "alice")
    people["alice"] = alice
    for name, page in people.items():
        links = set(page.locator("nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))"))
        for path, allowed in PAGES.items():
            response = page.goto(path)
            assert response is not None
            if name in allowed:
                assert response.status == 200, (name, path)
                assert path in links, (name, path)
            else:
                assert response.status == 403, (name, path)
                expect(page.locator("p.error")).to_have_attribute("data-reason", "forbidden")
                assert path not in links, (name, path)

    # the system admin proposes; the security auditor sees it among their to-dos and confirms it
    sysadmin, secauditor = people["sysadmin"], people["secauditor"]
    sysadmin.goto("/officer-changes")
    sysadmin.fill("#propose-user", "olga")
    sysadmin.select_option("#propose-role", "security_auditor")
    sysadmin.select_option("#propose-change", "grant")
    sysadmin.click("#propose-button")
    expect(sysadmin.locator(".notice")).to_have_text("提议已提交，等待另一名管理员确认。")
    expect(sysadmin.locator("#pending-changes tbody tr")).to_have_count(1)
    expect(sysadmin.locator("#pending-changes button")).to_have_count(0)  # not the proposer's to confirm
    secauditor.goto("/")
    expect(secauditor.locator("#dash-proposals")).to_contain_text("olga")
    secauditor.click("#dash-proposals >> a[href='/officer-changes']")
    secauditor.locator("#pending-changes button").click()
    expect(secauditor.locator(".notice")).to_have_text("变更已确认并生效。")
    expect(secauditor.locator("#closed-changes tbody tr")).to_have_count(1)
    roles = site.api("secadmin", site.officer_passwords["secadmin"]).get("/users/olga").json()["roles"]
    assert roles == ["security_auditor"]
    assert not site.csp_violations
