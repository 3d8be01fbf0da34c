"""The borrower's search, browse and item pages in a real browser (issue 11, point 2): a keyboard-only
search (type, Enter) with highlighted results and facets, the item page with its 档号 and anchored
checkpoint, "verify now" with every verification step passed, the proof bundle downloaded and checked
against the chain's transaction, and browsing fonds Z001. No Content-Security-Policy violations."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.browser import (  # noqa: F401  (fixtures: browser_type_launch_args, site_fixture)
    Site,
    browser_type_launch_args,
    expect,
    indexed,
    log_in,
    person,
    shot,
    site_fixture,
)
from tests.helpers.ganache_fixture import ganache_url  # noqa: F401  (the fixture `site` needs)

pytestmark = [pytest.mark.e2e, pytest.mark.ganache, pytest.mark.browser, pytest.mark.slow]


def test_keyboard_search_item_page_verify_and_proof_download(browser: Any, site: Site) -> None:
    indexed(site, "港务局", 3)
    alice = person(browser, site)
    log_in(alice, "alice")
    alice.click("nav >> text=检索")
    expect(alice).to_have_url(re.compile(r"/find$"))
    # keyboard only: the query box has the focus, Enter submits
    expect(alice.locator("#q")).to_be_focused()
    alice.keyboard.type("港务局 文书")
    alice.keyboard.press("Enter")
    expect(alice).to_have_url(re.compile(r"/find\?q=.+"))
    results = alice.locator("#results > li")
    expect(results).to_have_count(3)
    expect(results.first.locator("mark").first).to_be_visible()
    expect(alice.locator("#results-heading")).to_have_text("共找到 3 条结果")
    expect(alice.locator("ul[data-facet=fonds] a[data-value=Z001]")).to_be_visible()
    expect(results.first.locator("form.cart-add button")).to_be_visible()  # the request cart's button
    shot(alice, "search")
    # the facet link narrows (here to the one fonds: the same three)
    alice.click("ul[data-facet=fonds] a[data-value=Z001]")
    expect(alice).to_have_url(re.compile(r"fonds=Z001"))
    expect(results).to_have_count(3)
    expect(alice.locator("#active-filters a[data-filter=fonds]")).to_be_visible()
    # keyboard again: Tab from the query box to the first result's link, Enter opens the item page
    item_a = site.items["A"]
    alice.goto("/find?q=" + "港务局文书 A")
    expect(results.first).to_have_attribute("data-item", item_a)
    expect(alice.locator("#q")).to_be_focused()
    first_hit = alice.locator(f"#results > li[data-item='{item_a}'] a.hit-title")
    for _ in range(40):  # sort, search button, the facet links, then the results
        alice.keyboard.press("Tab")
        if first_hit.evaluate("e => e === document.activeElement"):
            break
    expect(first_hit).to_be_focused()
    alice.keyboard.press("Enter")
    expect(alice).to_have_url(re.compile(rf"/records/{item_a}$"))
    expect(alice.locator("#item-title")).to_have_text("港务局文书 A")
    expect(alice.locator("#archival-code")).to_be_visible()
    expect(alice.locator("#arrangement-path a[data-level=fonds]")).to_have_text("Z001")
    expect(alice.locator("#versions tbody tr")).to_have_count(1)
    tx = alice.locator("#anchor-tx").inner_text()
    assert re.fullmatch(r"0x[0-9a-f]{64}", tx), tx
    # verify now: the verifier runs against the node's trust root and chain; every step shown, all passed
    alice.click("#verify-now")
    expect(alice.locator("#verdict")).to_have_attribute("data-outcome", "authentic", timeout=30_000)
    steps = alice.locator("#steps li")
    expect(steps).to_have_count(4)
    for i, name in enumerate(("content_hash", "record", "inclusion", "chain")):
        expect(steps.nth(i)).to_have_attribute("data-step", name)
        expect(steps.nth(i)).to_have_attribute("data-status", "passed")
    shot(alice, "item")
    # the proof bundle, downloaded: the record of this item, anchored by the transaction shown
    with alice.expect_download() as download:
        alice.click("#proof-download")
    assert download.value.suggested_filename == f"proof-{item_a}.json"
    bundle = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert bundle["record"]["item_id"] == item_a and bundle["anchor"]["tx_hash"] == tx
    assert not site.csp_violations


def test_browse_fonds_z001(browser: Any, site: Site) -> None:
    alice = person(browser, site)
    log_in(alice, "alice")
    alice.click("nav >> text=浏览")
    expect(alice).to_have_url(re.compile(r"/browse$"))
    expect(alice.locator("#fonds-list tr[data-fonds=Z001] td").nth(1)).to_have_text("3")
    alice.click("#fonds-list >> text=Z001")
    expect(alice).to_have_url(re.compile(r"/browse/Z001$"))
    expect(alice.locator("h1")).to_have_text("全宗 Z001")
    rows = alice.locator("#loose-items tbody tr")
    expect(rows).to_have_count(3)
    shot(alice, "browse")
    rows.filter(has_text="港务局文书 B").locator("a").click()
    expect(alice).to_have_url(re.compile(rf"/records/{site.items['B']}$"))
    # a wrong role: the system admin may not read the catalogue
    admin = person(browser, site)
    log_in(admin, "sysadmin", site.officer_passwords["sysadmin"])
    response = admin.goto("/browse/Z001")
    assert response is not None and response.status == 403
    expect(admin.locator("p.error")).to_have_attribute("data-reason", "forbidden")
    assert not site.csp_violations
