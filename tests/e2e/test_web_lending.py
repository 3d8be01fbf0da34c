"""The lending flow of the web UI in a real browser (issue 11, 2. and 3.): three people, three browser
contexts (four with the auditor). The borrower searches, puts items in the request cart and requests them
(purpose, period); the approver approves from the inbox in at most three actions; the borrower reads a lent
PDF in the browser (pages rendered on the server as PNG images with the borrower's name and the time burnt in
as a watermark) and downloads the certificate, which the security auditor verifies on the verify page; the
borrower asks for a renewal (续借), the approver approves it and the new
end shows; the approver revokes the loan and the borrower's next view is refused (403)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from node.lending import reader
from tests.helpers.browser import (  # noqa: F401  (fixtures: browser_type_launch_args, site_fixture)
    PASSWORD,
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


def _pdf(path: Path) -> bytes:
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    for n in (1, 2):
        c.setFont("Helvetica", 26)
        c.drawString(72, 720, f"Harbour board minutes, page {n}")
        c.rect(72, 250, 420, 380, fill=0)
        c.showPage()
    c.save()
    return path.read_bytes()


def _ingest_pdf(site: Site, data: bytes) -> str:
    meta = {"fonds": "Z001", "title": "港务局会议纪要 D", "category": "WS", "year": 2020, "retention": "30y"}
    files = {"metadata": (None, json.dumps(meta, ensure_ascii=False).encode(), "application/json"),
             "file": ("minutes.pdf", data, "application/pdf")}  # fmt: skip
    api = site.server.client()
    r = api.post("/items", files=files)
    assert r.status_code == 201, r.text
    assert api.post("/anchor").status_code == 200
    return r.json()["id"]


def _approve_in_inbox(carol: Any, purpose_or_loan: str) -> int:
    """Tick, password, approve; returns how many actions it took after the inbox opened."""
    carol.goto("/inbox")
    actions = 0
    row = carol.locator(f"#decide tbody tr[data-loan='{purpose_or_loan}']")
    row.locator("input[type=checkbox]").check()
    actions += 1
    carol.fill("#password", PASSWORD)
    actions += 1
    carol.click("#approve")
    actions += 1
    expect(carol.locator("#results li.ok")).to_have_count(1, timeout=90_000)
    return actions


def test_cart_request_approve_read_renew_revoke(browser: Any, site: Site, tmp_path: Path) -> None:
    original = tmp_path / "minutes.pdf"
    pdf_item = _ingest_pdf(site, _pdf(original))
    alice, carol = person(browser, site), person(browser, site)

    # the borrower searches and puts a hit in the request cart, adds the new PDF by its id on the cart page,
    # and requests both
    indexed(site, "港务局", 3)
    log_in(alice, "alice")
    alice.click("nav >> text=检索")
    alice.fill("#q", "港务局文书 A")
    alice.keyboard.press("Enter")
    alice.locator(f"#results > li[data-item='{site.items['A']}'] form.cart-add button").click()
    expect(alice).to_have_url(re.compile(r"notice=cart.added"))
    alice.goto("/cart")
    alice.fill("#cart-item-id", pdf_item)
    alice.click("#cart-add-button")
    expect(alice).to_have_url(re.compile(r"/cart\?notice=cart.added$"))
    expect(alice.locator("#cart tbody tr")).to_have_count(2)
    expect(alice.locator("#cart")).to_contain_text("港务局会议纪要 D")
    shot(alice, "cart")
    alice.click("#request-cart")
    expect(alice.locator(f"#item-{pdf_item}")).to_be_checked()
    expect(alice.locator(f"#item-{site.items['A']}")).to_be_checked()
    alice.fill("#purpose", "港务史编纂")
    alice.fill("#days", "5")
    alice.click("#send")
    expect(alice).to_have_url(re.compile(r"/my-loans\?notice=loans.requested"))
    loan_id = alice.locator("#loans tbody tr").first.get_attribute("data-loan")
    assert loan_id
    alice.goto("/cart")
    expect(alice.locator("#cart-empty")).to_be_visible()  # emptied by the request

    # the approver: tick, password, approve
    log_in(carol, "carol")
    assert _approve_in_inbox(carol, loan_id) <= 3

    # the borrower reads the PDF in the browser: watermarked PNG pages, never the PDF itself
    alice.goto("/my-loans")
    row = alice.locator(f"#loans tbody tr[data-loan='{loan_id}']")
    expect(row.locator(".status")).to_have_text("已批准")
    with alice.expect_response(lambda r: r.url.endswith("/pages/1.png")) as first_page:
        row.locator(f"li[data-item='{pdf_item}'] a.read").click()
    served = first_page.value
    assert served.status == 200 and served.headers["content-type"] == "image/png"
    assert served.headers["cache-control"] == "no-store"
    expect(alice.locator("#reader figure")).to_have_count(2)
    image = alice.locator("#reader figure[data-page='1'] img")
    expect(image).to_be_visible()
    alice.wait_for_function("() => document.querySelector('#reader img').complete")
    assert image.evaluate("img => img.naturalWidth") > 0  # the browser decoded and shows it
    expect(alice.locator("#reader figure[data-page='1'] figcaption")).to_contain_text("Alice (alice)")
    # the watermark is in the pixels: the served page differs visibly from the same page rendered without it
    body = served.body()
    assert not body.startswith(b"%PDF")
    plain = reader.render_page(original, reader.PDF, 1)
    shown = Image.open(io.BytesIO(body)).convert("RGB")
    assert shown.size == plain.size
    changed = ImageChops.difference(shown, plain).convert("L").point(lambda v: 255 if v > 24 else 0).histogram()[255]
    assert changed > plain.size[0] * plain.size[1] // 100, changed
    shot(alice, "reader")

    # the certificate of the loan
    alice.goto("/my-loans")
    with alice.expect_download() as download:
        alice.locator(f"#loans tbody tr[data-loan='{loan_id}'] a.certificates").click()
    certificates = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert {c["item_id"] for c in certificates["certificates"]} == {pdf_item, site.items["A"]}
    assert all(c["certificate"] is not None for c in certificates["certificates"])

    # the security auditor verifies the borrower's certificate on the verify page: every step passes
    auditor = person(browser, site)
    log_in(auditor, "secauditor", site.officer_passwords["secauditor"])
    auditor.click("nav a[href='/verify-record']")
    certificate = next(c["certificate"] for c in certificates["certificates"] if c["item_id"] == pdf_item)
    auditor.set_input_files("#certificate", {"name": "certificate.json", "mimeType": "application/json",
                                             "buffer": json.dumps(certificate).encode()})  # fmt: skip
    auditor.click("#verify-certificate")
    expect(auditor.locator("#verify-result")).to_have_attribute("data-outcome", "authentic")
    expect(auditor.locator("#steps > li[data-ok='true']")).to_have_count(5)
    expect(auditor.locator("#certificate-payload")).to_contain_text(loan_id)

    # renewal (续借): the borrower asks for ten more days, the approver approves it, the new end shows
    old_end = alice.locator(f"#loans tbody tr[data-loan='{loan_id}'] .expires").inner_text()
    renew = alice.locator(f"#loans tbody tr[data-loan='{loan_id}'] form.renew")
    renew.locator("input[name=days]").fill("10")
    renew.locator("input[name=reason]").fill("档案编研尚未完成")
    renew.locator("button").click()
    expect(alice).to_have_url(re.compile(r"/my-loans\?notice=renew.requested"))
    renewal = alice.locator(f"#loans tbody tr[data-renewal-of='{loan_id}']")
    expect(renewal.locator(".status")).to_have_text("待审批")
    renewal_id = renewal.get_attribute("data-loan")
    assert renewal_id
    carol.goto("/inbox")
    expect(carol.locator(f"#decide tbody tr[data-loan='{renewal_id}'] .renewal-tag")).to_be_visible()
    expect(carol.locator(f"#decide tbody tr[data-loan='{renewal_id}']")).to_contain_text("档案编研尚未完成")
    assert _approve_in_inbox(carol, renewal_id) <= 3
    alice.reload()
    expect(alice.locator(f"#loans tbody tr[data-loan='{loan_id}'] .status")).to_have_text("已续借")
    renewed = alice.locator(f"#loans tbody tr[data-loan='{renewal_id}']")
    expect(renewed.locator(".status")).to_have_text("已批准")
    new_end = renewed.locator(".expires").inner_text()
    assert new_end > old_end, (old_end, new_end)  # "YYYY-MM-DD HH:MM UTC": ten days later
    reader_url = f"/my-loans/{renewal_id}/items/{pdf_item}"
    response = alice.goto(reader_url)
    assert response is not None and response.status == 200

    # the approver revokes the renewed loan: the borrower's next view is refused
    carol.goto("/inbox")
    revoke = carol.locator(f"#history tbody tr[data-loan='{renewal_id}'] form.revoke")
    revoke.locator("input[name=password]").fill(PASSWORD)
    revoke.locator("input[name=reason]").fill("项目终止")
    revoke.locator("button").click()
    expect(carol.locator(".notice")).to_have_text("借阅已撤销，借阅人即刻无法再访问。", timeout=90_000)
    response = alice.goto(reader_url)
    assert response is not None and response.status == 403
    expect(alice.locator("p.error")).to_have_attribute("data-reason", "loan_revoked")
    page_answer = alice.request.get(f"{site.url}{reader_url}/pages/1.png")
    assert page_answer.status == 403 and not page_answer.headers["content-type"].startswith("image/")
    # every view is in the trail: the reader and its pages as content reads, the refusals too
    trail = site.api("secauditor", site.officer_passwords["secauditor"])
    events = trail.get("/audit/events", params={"action": "items:content"}).json()["events"]
    mine = [e for e in events if e["principal_name"] == "alice"]
    assert {e["outcome"] for e in mine} == {"ok", "denied"}
    assert any(e["details"].get("view") == "page" and e["outcome"] == "ok" for e in mine)
    assert any(e["details"].get("reason") == "loan_revoked" for e in mine)
    assert not site.csp_violations
