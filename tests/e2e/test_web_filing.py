"""The archivist's pages in a real browser (issue 11: "filing a package and reading its report"): an
archivist (made through the API: the system admin creates the account, the security admin grants the
role) uploads a transfer package built here, watches the background job's progress bar finish, reads
the per-item report with its check codes, opens the printable version, edits an item's metadata and
sees the version history; a borrower is refused the filing page. No CSP violation on any page."""

from __future__ import annotations

import re
from pathlib import Path
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
from tests.helpers.checks_builders import good_items, write_package, zip_of
from tests.helpers.ganache_fixture import ganache_url  # noqa: F401  (the fixture `site` needs)

pytestmark = [pytest.mark.e2e, pytest.mark.ganache, pytest.mark.browser, pytest.mark.slow]
ITEMS = 12


@pytest.fixture(scope="module")
def archivist(site: Site) -> str:
    """An archivist account, made as in production: created by the system admin, role by the security admin."""
    sysadmin = site.api("sysadmin", site.officer_passwords["sysadmin"])
    secadmin = site.api("secadmin", site.officer_passwords["secadmin"])
    r = sysadmin.post("/users", json={"username": "ada", "password": PASSWORD, "display_name": "Ada",
                                              "must_change_password": False})  # fmt: skip
    assert r.status_code == 201, r.text
    r = secadmin.post("/users/ada/roles", json={"role": "archivist", "password": site.officer_passwords["secadmin"]})
    assert r.status_code == 200, r.text
    return "ada"


def test_filing_a_package_and_reading_its_report(browser: Any, site: Site, archivist: str, tmp_path: Path) -> None:
    package = zip_of(write_package(tmp_path / "pkg", good_items(ITEMS)))
    page = person(browser, site)
    log_in(page, archivist)
    page.click("nav a[href='/filing']")
    expect(page).to_have_url(re.compile(r"/filing$"))
    expect(page.locator("#jobs-empty")).to_be_visible()
    shot(page, "filing")
    page.set_input_files("#package", files=[{"name": "移交-2024.zip", "mimeType": "application/zip",
                                             "buffer": package}])  # fmt: skip
    page.click("#upload")
    expect(page).to_have_url(re.compile(r"/filing/jobs/[0-9a-f]{32}$"))
    job_url = page.url
    if page.locator("#report").count() == 0:  # still checking (the usual case): the bar is polled until done
        expect(page.locator("#job-bar")).to_be_attached()
        expect(page.locator("#job-progress")).to_have_attribute("hx-trigger", "every 1s")
    # the job finishes, the page reloads itself to the report (htmx: HX-Redirect), same address
    expect(page.locator("#report")).to_be_visible(timeout=120_000)
    assert page.url == job_url
    expect(page.locator("#package-status")).to_have_text("已归档")
    expect(page.locator("#item-results tbody tr")).to_have_count(ITEMS)
    expect(page.locator("#item-results tr.item-pass")).to_have_count(ITEMS)
    expect(page.locator("#item-results tr[data-path='doc-0001.pdf'] li[data-code='SEC-VIRUS']")).to_be_visible()
    expect(page.locator("#package-results tr[data-code='INTEG-COUNT']")).to_contain_text("通过")
    shot(page, "filing-report")

    # the printable report opens alone (its own tab), and prints without the page's links
    with page.context.expect_page() as opened:
        page.click("#print-link")
    printed = opened.value
    printed.wait_for_load_state()
    expect(printed).to_have_url(re.compile(r"/filing/packages/[0-9a-f]{32}/print$"))
    expect(printed.locator("#report")).to_be_visible()
    expect(printed.locator("header")).to_have_count(0)
    expect(printed.locator("#item-results tbody tr")).to_have_count(ITEMS)
    printed.emulate_media(media="print")
    expect(printed.locator("#print-link")).to_be_hidden()
    printed.close()

    # the job is listed on the filing page; an item of the package opens its metadata page
    page.goto("/filing")
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    expect(page.locator("#jobs .status-job-done")).to_be_visible()
    page.goto(job_url)
    page.click("#item-results tr[data-path='doc-0002.pdf'] a")
    expect(page).to_have_url(re.compile(r"/arrange/items/[0-9a-f]{32}/metadata$"))
    expect(page.locator("#versions li")).to_have_count(1)
    assert not site.csp_violations, site.csp_violations


def test_editing_metadata_shows_the_version_history(browser: Any, site: Site, archivist: str) -> None:
    page = person(browser, site)
    log_in(page, archivist)
    page.goto(f"/arrange/items/{site.items['A']}/metadata")
    expect(page.locator("#versions li")).to_have_count(1)
    title = page.locator("input[name='field.title']")
    expect(title).to_have_value("港务局文书 A")
    title.fill("港务局文书 A（题名更正）")
    page.fill("#new-key", "extra.remarks")
    page.fill("#new-value", "据原件更正")
    page.fill("#reason", "题名与原件不符")
    page.click("#save-metadata")
    expect(page.locator(".notice")).to_be_visible()
    expect(page.locator("#versions li")).to_have_count(2)
    newest = page.locator("#versions li[data-version='2']")
    expect(newest).to_contain_text("题名与原件不符")
    expect(newest.locator("tr[data-changed='title'] .diff-removed")).to_have_text("港务局文书 A")
    expect(newest.locator("tr[data-changed='title'] .diff-added")).to_have_text("港务局文书 A（题名更正）")
    expect(newest.locator("tr[data-changed='extra.remarks'] .diff-added")).to_have_text("据原件更正")
    expect(newest).to_contain_text(archivist)  # who made the version
    shot(page, "metadata")
    # nothing changed: refused on the form, no new version
    page.click("#save-metadata")
    expect(page.locator("#meta-error")).to_have_attribute("data-reason", "nothing_to_change")
    expect(page.locator("#versions li")).to_have_count(2)
    assert not site.csp_violations, site.csp_violations


def test_a_borrower_is_refused_the_archivist_pages(browser: Any, site: Site) -> None:
    page = person(browser, site)
    log_in(page, "alice")
    expect(page.locator("nav a[href='/filing']")).to_have_count(0)
    for url in ("/filing", "/arrange", "/preservation-alerts"):
        response = page.goto(url)
        assert response is not None and response.status == 403, url
        expect(page.locator("p.error")).to_have_attribute("data-reason", "forbidden")
    assert not site.csp_violations, site.csp_violations
