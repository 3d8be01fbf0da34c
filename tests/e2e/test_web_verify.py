"""The verify page and 利用统计 in a real browser (issue 11, points 4 and 7), against a real node on ganache:
an auditor verifies the certificate of an approved loan (every step passes, the permit is shown), then a
tampered file with its proof bundle (the content step is red: its class and its computed colour), and
opens the statistics with their SVG charts. A borrower is refused the verify page.

Screenshots (`make screenshots`): "verify", "statistics"."""

from __future__ import annotations

import json
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

RED = "rgb(161, 29, 29)"  # --bad in web.css
CONTENT_A = b"record A\n" * 20  # item A of the shared site (tests/helpers/browser.py)


@pytest.fixture(scope="module")
def lent(site: Site) -> dict[str, Any]:
    """An auditor account, and a loan of item A: alice requests it, carol approves it (her chain key signs
    the permit), alice reads it once; its certificate as alice downloads it."""
    sysadmin = site.api("sysadmin", site.officer_passwords["sysadmin"])
    secadmin = site.api("secadmin", site.officer_passwords["secadmin"])
    r = sysadmin.post("/users", json={"username": "audrey", "password": PASSWORD, "display_name": "Audrey",
                                      "must_change_password": False})  # fmt: skip
    assert r.status_code == 201, r.text
    r = secadmin.post("/users/audrey/roles", json={"role": "auditor", "password": site.officer_passwords["secadmin"]})
    assert r.status_code == 200, r.text
    alice, carol = site.api("alice", PASSWORD), site.api("carol", PASSWORD)
    item = site.items["A"]
    r = alice.post("/loans", json={"items": [item], "purpose": "港口史研究", "days": 7})
    assert r.status_code == 201, r.text
    loan = r.json()["id"]
    r = carol.post(f"/loans/{loan}/approve", json={"password": PASSWORD})
    assert r.status_code == 200, r.text
    assert alice.get(f"/items/{item}/content").content == CONTENT_A  # the first read after approval
    [entry] = alice.get(f"/loans/{loan}/certificates").json()["certificates"]
    return {"loan": loan, "certificate": entry["certificate"], "permit": entry["permit_id"],
            "bundle": alice.get(f"/items/{item}/proof").json()}  # fmt: skip


def json_file(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "mimeType": "application/json", "buffer": json.dumps(value).encode()}


def test_the_auditor_verifies_a_certificate_and_sees_a_tampered_file_fail_in_red(
    browser: Any, site: Site, lent: dict[str, Any]
) -> None:
    page = person(browser, site)
    log_in(page, "audrey")
    page.click("nav a[href='/verify-record']")
    expect(page).to_have_url(re.compile(r"/verify-record$"))
    expect(page.locator("#trust-root")).to_be_visible()

    # the loan's certificate: every check passes, and it names the loan and the permit
    page.set_input_files("#certificate", json_file("certificate.json", lent["certificate"]))
    page.click("#verify-certificate")
    expect(page.locator("#verify-result")).to_have_attribute("data-outcome", "authentic")
    steps = page.locator("#steps > li")
    expect(steps).to_have_count(5)
    for i in range(5):
        expect(steps.nth(i)).to_have_attribute("data-ok", "true")
    expect(page.locator("#certificate-payload")).to_contain_text(lent["permit"])
    expect(page.locator("#certificate-payload")).to_contain_text(lent["loan"])
    expect(page.locator("#verify-outcome")).to_have_css("color", "rgb(31, 111, 58)")  # --ok
    shot(page, "verify")

    # a file changed after filing, with its genuine proof bundle: the content step fails, in red
    page.set_input_files("#file", {"name": "A.txt", "mimeType": "text/plain", "buffer": CONTENT_A + b"forged line\n"})
    page.set_input_files("#bundle", json_file("proof.json", lent["bundle"]))
    page.click("#verify-bundle")
    expect(page.locator("#verify-result")).to_have_attribute("data-outcome", "not_authentic")
    failed = page.locator("#steps > li[data-step='content_hash']")
    expect(failed).to_have_attribute("data-ok", "false")
    expect(failed).to_have_class(re.compile(r"\bstep-failed\b"))
    expect(failed).to_have_css("color", RED)
    expect(failed.locator(".reason")).to_have_attribute("data-reason", "content_mismatch")
    expect(failed).to_contain_text("文件与记录的哈希不一致")
    expect(page.locator("#steps > li[data-step='chain']")).to_have_attribute("data-ok", "none")  # not run
    shot(page, "verify-failed")

    # the genuine file passes every step (on the real chain)
    page.set_input_files("#file", {"name": "A.txt", "mimeType": "text/plain", "buffer": CONTENT_A})
    page.set_input_files("#bundle", json_file("proof.json", lent["bundle"]))
    page.click("#verify-bundle")
    expect(page.locator("#verify-result")).to_have_attribute("data-outcome", "authentic")
    expect(page.locator("#steps > li[data-ok='true']")).to_have_count(4)
    assert not site.csp_violations, site.csp_violations


def test_the_statistics_page_renders_its_charts(browser: Any, site: Site, lent: dict[str, Any]) -> None:
    page = person(browser, site)
    log_in(page, "audrey")
    page.click("nav a[href='/statistics']")
    expect(page).to_have_url(re.compile(r"/statistics$"))
    expect(page.locator("#total-loans")).to_have_text("1")
    expect(page.locator("svg#chart-months")).to_be_visible()
    expect(page.locator("svg#chart-fonds g.bar")).to_have_count(1)
    expect(page.locator("svg#chart-fonds g.bar")).to_have_attribute("data-label", "Z001")
    expect(page.locator("svg#chart-items g.bar")).to_have_attribute("data-value", "1")
    expect(page.locator("svg#chart-fonds rect")).to_have_css("fill", "rgb(138, 28, 28)")  # --accent, from web.css
    seconds = page.locator("#approval-to-access").get_attribute("data-seconds")
    assert seconds not in (None, "")  # alice read the item after the approval
    page.click("#table-months >> xpath=ancestor::details/summary")
    expect(page.locator("#table-months")).to_be_visible()
    shot(page, "statistics")
    assert not site.csp_violations, site.csp_violations


def test_a_borrower_is_refused_the_verify_page(browser: Any, site: Site) -> None:
    page = person(browser, site)
    log_in(page, "alice")
    expect(page.locator("nav a[href='/verify-record']")).to_have_count(0)
    response = page.goto("/verify-record")
    assert response is not None and response.status == 403
    expect(page.locator("p.error")).to_have_attribute("data-reason", "forbidden")
    response = page.goto("/statistics")
    assert response is not None and response.status == 403
    assert not site.csp_violations, site.csp_violations
