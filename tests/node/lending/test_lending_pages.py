"""The lending pages without a browser (issue 11, 2.): the request cart (bounds, bad ids, another user's
cookie, emptied by a request), renewal (续借) over the API and the pages with its refusals, and the reader
of lent content (watermarked PNG pages, never the original bytes, refused after revoke and expiry, every
view an `items:content` event). On the in-process chain: real permits, real approvals."""

# ruff: noqa: F811  (`people` is the fixture imported from tests.helpers.loans)
from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image, ImageChops
from sqlalchemy import select

from node.core.models import AuditEvent, Item
from node.lending import reader
from node.lending.pages import CART_COOKIE, CART_MAX
from tests.helpers.loans import PASSWORD, People, people, request_loan  # noqa: F401  (the lending fixture)
from tests.node.core.test_web_pages import browser, csrf_of, login


def _pdf(pages: int = 2) -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out)
    for n in range(1, pages + 1):
        c.setFont("Helvetica", 28)
        c.drawString(72, 700, f"Port authority record, page {n}")
        c.rect(72, 300, 300, 300, fill=1)
        c.showPage()
    c.save()
    return out.getvalue()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def _events(p: People, after: int) -> list[AuditEvent]:
    with p.ctx.reader() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq)))


def _seq(p: People) -> int:
    events = _events(p, 0)
    return events[-1].seq if events else 0


def _approved(p: People, items: list[str], who: str = "alice") -> dict[str, Any]:
    loan = request_loan(p, who, items)
    r = p.call("carol", "POST", f"/loans/{loan['id']}/approve", json={"password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def alice(people: People) -> Iterator[Any]:
    client = browser(people.api)
    assert login(client, "alice", PASSWORD).status_code == 303
    yield client


def _set_cart(client: Any, value: str | None) -> None:
    """Replace the cart cookie in the client's jar (the server's and ours must not both be sent)."""
    jar = client.cookies.jar
    domain = next(c.domain for c in jar if c.name == "al_session")
    for cookie in [c for c in jar if c.name == CART_COOKIE]:
        jar.clear(cookie.domain, cookie.path, cookie.name)
    if value is not None:
        client.cookies.set(CART_COOKIE, value, domain=domain, path="/")


def _reason(page: Any) -> str | None:
    found = re.search(r'data-reason="([^"]*)"', page.text)
    return found.group(1) if found else None


# -- the cart ----------------------------------------------------------------------------------------------
def test_cart_adds_checks_bounds_and_empties_after_a_request(people: People, alice: Any) -> None:
    p = people
    a, b = p.ingest(b"cart record A" * 20), p.ingest(b"cart record B" * 20)
    token = csrf_of(alice.get("/cart"))
    assert 'id="cart-empty"' in alice.get("/cart").text
    before = _seq(p)
    added = alice.post("/cart/add", data={"item_id": a, "next": "/search?q=port", "csrf_token": token})
    assert added.status_code == 303 and added.headers["location"] == "/search?q=port&notice=cart.added"
    new = _events(p, before)  # the middleware's one event; the archive is unchanged
    assert [(e.action, e.outcome, e.target) for e in new] == [("cart:add", "ok", f"item:{a}")]
    evil = alice.post("/cart/add", data={"item_id": b, "next": "//evil.example/x", "csrf_token": token})
    assert evil.headers["location"] == "/cart?notice=cart.added"  # never off the node
    again = alice.post("/cart/add", data={"item_id": a, "csrf_token": token})  # no duplicate
    assert again.status_code == 303
    page = alice.get("/cart")
    assert re.findall(r'<tr data-item="([^"]+)"', page.text) == [a, b]
    assert 'href="/my-loans/new?cart=1"' in page.text
    # bad ids, unknown ids, no token
    for item_id, status, reason in (("../../etc/passwd", 422, "bad_item_id"), ("a" * 65, 422, "bad_item_id"),
                                    ("0" * 32, 404, "item_not_found")):  # fmt: skip
        refused = alice.post("/cart/add", data={"item_id": item_id, "csrf_token": token})
        assert refused.status_code == status and _reason(refused) == reason, item_id
    assert alice.post("/cart/add", data={"item_id": a}).status_code == 403  # CSRF
    # a forged cookie: ids of a wrong shape are dropped, at most CART_MAX are kept, the bound holds
    me = p.call("alice", "GET", "/me").json()["id"]
    _set_cart(alice, f"{me}:" + ".".join(f"{n:032x}" for n in range(CART_MAX + 5)) + ".<script>")
    assert len(re.findall(r'<tr data-item="', alice.get("/cart").text)) == 0  # unknown ids are not shown
    full = alice.post("/cart/add", data={"item_id": a, "csrf_token": token})
    assert full.status_code == 409 and _reason(full) == "cart_full"
    # another user's cart cookie (a shared browser) is no cart of alice's
    _set_cart(alice, f"someone-else:{a}.{b}")
    assert 'id="cart-empty"' in alice.get("/cart").text
    _set_cart(alice, f"{me}:{a}.{b}")
    removed = alice.post("/cart/remove", data={"item_id": b, "csrf_token": token})
    assert removed.status_code == 303 and removed.headers["location"] == "/cart?notice=cart.removed"
    assert re.findall(r'<tr data-item="([^"]+)"', alice.get("/cart").text) == [a]
    # the request form, pre-filled with the cart's items; a successful request empties the cart
    form = alice.get("/my-loans/new", params={"cart": "1"})
    assert re.search(rf'name="item" value="{a}" id="item-{a}" checked', form.text) and 'id="from-cart"' in form.text
    sent = alice.post("/my-loans/new", data={"item": [a], "purpose": "港务史研究", "days": "7", "from_cart": "true",
                                             "csrf_token": csrf_of(form)})  # fmt: skip
    assert sent.status_code == 303, sent.text
    assert 'al_cart=""' in sent.headers["set-cookie"] or "Max-Age=0" in sent.headers["set-cookie"]
    assert 'id="cart-empty"' in alice.get("/cart").text
    assert [x["items"][0]["item_id"] for x in p.call("alice", "GET", "/loans").json()["loans"]] == [a]
    # the cart is a borrower's
    carol = browser(p.api)
    login(carol, "carol", PASSWORD)
    assert carol.get("/cart").status_code == 403


# -- renewal ------------------------------------------------------------------------------------------------
def test_renewal_refusals_then_approved_it_supersedes_the_loan(people: People, alice: Any) -> None:
    p = people
    a = p.ingest(_pdf(1))
    assert p.api.post("/anchor").status_code == 200
    pending = request_loan(p, "alice", [a])
    body = {"days": 10, "reason": "论文修改需要更多时间"}
    r = p.call("alice", "POST", f"/loans/{pending['id']}/renew", json=body)
    assert r.status_code == 409 and r.json()["error"] == "not_renewable"  # not approved yet
    loan = _approved(p, [a])
    assert p.call("bob", "POST", f"/loans/{loan['id']}/renew", json=body).status_code == 404  # not bob's
    assert p.call("carol", "POST", f"/loans/{loan['id']}/renew", json=body).status_code == 403  # no borrower
    assert p.call("alice", "POST", f"/loans/{loan['id']}/renew", json={"days": 3}).status_code == 422  # no reason
    earlier = {"expires_at": loan["expires_at"], "reason": "x"}  # not after the current end
    r = p.call("alice", "POST", f"/loans/{loan['id']}/renew", json=earlier)
    assert r.status_code == 422 and r.json()["error"] == "bad_period"
    r = p.call("alice", "POST", f"/loans/{loan['id']}/renew", json={"days": 89, "reason": "x"})  # now -> end > 90 d
    assert r.status_code == 422 and r.json()["error"] == "period_too_long"
    before = _seq(p)
    r = p.call("alice", "POST", f"/loans/{loan['id']}/renew", json=body)
    assert r.status_code == 201, r.text
    renewal = r.json()
    assert renewal["status"] == "REQUESTED" and renewal["renewal_of"] == loan["id"]
    assert renewal["renewal_reason"] == body["reason"] and renewal["items"][0]["item_id"] == a
    old_end = loan["expires_at"]
    assert renewal["expires_at"] > old_end
    new = _events(p, before)
    assert [(e.action, e.outcome, e.target) for e in new] == [("loans:renew", "ok", f"loan:{loan['id']}")]
    assert json.loads(new[0].details_json)["renewal"] == renewal["id"]
    r = p.call("alice", "POST", f"/loans/{loan['id']}/renew", json=body)
    assert r.status_code == 409 and r.json()["error"] == "renewal_pending"
    # my loans: the renewal is marked, no second renew form; the inbox marks it too
    mine = alice.get("/my-loans").text
    assert f'data-renewal-of="{loan["id"]}"' in mine and 'class="hint renew-pending"' in mine
    carol = browser(p.api)
    login(carol, "carol", PASSWORD)
    inbox = carol.get("/inbox").text
    assert f'data-renewal-of="{loan["id"]}"' in inbox and body["reason"] in inbox
    # approved from the inbox like any request: the old loan is RENEWED, the new end applies
    done = carol.post("/inbox", data={"decision": "approve", "loan": [renewal["id"]], "password": PASSWORD,
                                      "csrf_token": csrf_of(carol.get("/inbox"))})  # fmt: skip
    assert done.status_code == 200 and 'class="ok"' in done.text, done.text
    assert p.call("alice", "GET", f"/loans/{loan['id']}").json()["status"] == "RENEWED"
    now = p.call("alice", "GET", f"/loans/{renewal['id']}").json()
    assert now["status"] == "APPROVED" and now["items"][0]["permit_id"] != loan["items"][0]["permit_id"]
    r = p.call("alice", "GET", f"/items/{a}/content")
    assert r.status_code == 200 and r.headers["X-Loan-Id"] == renewal["id"]
    r = p.call("alice", "POST", f"/loans/{loan['id']}/renew", json=body)  # a renewed loan is not renewed again
    assert r.status_code == 409 and r.json()["error"] == "not_renewable"
    # the page form: a renewal of the renewal
    renewed = alice.post(f"/my-loans/{renewal['id']}/renew", data={"days": "5", "reason": "再延长",
                                                                    "csrf_token": csrf_of(alice.get("/my-loans"))})
    assert renewed.status_code == 303 and renewed.headers["location"] == "/my-loans?notice=renew.requested"
    again = alice.post(f"/my-loans/{renewal['id']}/renew", data={"days": "5", "reason": "x",
                                                                  "csrf_token": csrf_of(alice.get("/my-loans"))})
    assert again.status_code == 409 and _reason(again) == "renewal_pending"


def test_a_renewal_of_a_revoked_loan_is_not_approved(people: People) -> None:
    p = people
    a = p.ingest(b"renewed then revoked" * 10)
    p.api.post("/anchor")
    loan = _approved(p, [a])
    renewal = p.call("alice", "POST", f"/loans/{loan['id']}/renew", json={"days": 3, "reason": "more"}).json()
    assert p.call("carol", "POST", f"/loans/{loan['id']}/revoke", json={"password": PASSWORD}).status_code == 200
    r = p.call("carol", "POST", f"/loans/{renewal['id']}/approve", json={"password": PASSWORD})
    assert r.status_code == 409 and r.json()["error"] == "renewal_of_ended"
    assert p.call("alice", "GET", f"/items/{a}/content").status_code == 403
    r = p.call("alice", "POST", f"/loans/{loan['id']}/renew", json={"days": 3, "reason": "more"})
    assert r.status_code == 409 and r.json()["error"] == "not_renewable"


# -- the reader ----------------------------------------------------------------------------------------------
def _blob(p: People, item_id: str) -> Any:
    with p.ctx.reader() as s:
        return p.ctx.blobs.path_for(s.get(Item, item_id).content_sha256)


def _differs(served: bytes, plain: Image.Image) -> int:
    """Pixels of the served page that differ from the unwatermarked render."""
    image = Image.open(io.BytesIO(served)).convert("RGB")
    assert image.size == plain.size
    diff = ImageChops.difference(image, plain).convert("L").point(lambda v: 255 if v > 24 else 0)
    return diff.histogram()[255]


def test_reader_shows_watermarked_pages_and_every_view_is_audited(people: People, alice: Any) -> None:
    p = people
    pdf, png, text = p.ingest(_pdf(2)), p.ingest(_png()), p.ingest(b"plain text record" * 10)
    p.api.post("/anchor")
    loan = _approved(p, [pdf, png, text])
    mine = alice.get("/my-loans").text
    assert all(f'href="/my-loans/{loan["id"]}/items/{i}" class="read"' in mine for i in (pdf, png, text))
    before = _seq(p)
    page = alice.get(f"/my-loans/{loan['id']}/items/{pdf}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    sources = re.findall(r'<img src="([^"]+)"', page.text)
    assert sources == [f"/my-loans/{loan['id']}/items/{pdf}/pages/{n}.png" for n in (1, 2)]
    assert "alice" in page.text and 'class="watermark"' in page.text  # the watermark, said in words too
    image = alice.get(sources[0])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["cache-control"] == "no-store"
    assert b"%PDF" not in image.content and image.content != _pdf(2)
    plain = reader.render_page(_blob(p, pdf), reader.PDF, 1)
    total = plain.size[0] * plain.size[1]
    assert _differs(image.content, plain) > total // 100  # the watermark covers the page, visibly
    assert _differs(reader.png_bytes(plain), plain) == 0  # (the comparison itself can say "no difference")
    # each view is one items:content event, as a content fetch: the loan, the permit check, the page
    new = _events(p, before)
    assert [(e.action, e.outcome, e.principal_name) for e in new] == [("items:content", "ok", "alice")] * 2
    details = [json.loads(e.details_json) for e in new]
    assert [d["view"] for d in details] == ["reader", "page"] and details[1]["page"] == 1
    assert {d["permit_check"] for d in details} == {"permit"} and {d["loan_id"] for d in details} == {loan["id"]}
    assert new[1].target == sources[0] and new[1].fonds == "Z001"
    # an image: one page, watermarked; a format that cannot be shown inline says so
    shown = alice.get(f"/my-loans/{loan['id']}/items/{png}/pages/1.png")
    assert shown.status_code == 200 and _differs(shown.content, reader.render_page(_blob(p, png), reader.IMAGE, 1))
    other = alice.get(f"/my-loans/{loan['id']}/items/{text}")
    assert other.status_code == 200 and 'id="not-shown"' in other.text and "<img" not in other.text
    refused = alice.get(f"/my-loans/{loan['id']}/items/{text}/pages/1.png")
    assert refused.status_code == 422 and _reason(refused) == "format_not_shown"
    assert alice.get(f"/my-loans/{loan['id']}/items/{pdf}/pages/3.png").status_code == 404  # no such page
    # not bob's loan; an item that is not in the loan
    bob = browser(p.api)
    login(bob, "bob", PASSWORD)
    assert bob.get(f"/my-loans/{loan['id']}/items/{pdf}").status_code == 404
    other_item = p.ingest(b"not lent" * 10)
    assert alice.get(f"/my-loans/{loan['id']}/items/{other_item}").status_code == 404


def test_reader_is_refused_after_revoke_and_after_expiry(people: People, alice: Any) -> None:
    p = people
    a, b = p.ingest(_pdf(1)), p.ingest(_png())
    p.api.post("/anchor")
    revoked, expiring = _approved(p, [a]), _approved(p, [b])
    url = f"/my-loans/{revoked['id']}/items/{a}"
    assert alice.get(url + "/pages/1.png").status_code == 200
    assert p.call("carol", "POST", f"/loans/{revoked['id']}/revoke", json={"password": PASSWORD}).status_code == 200
    before = _seq(p)
    for target in (url, url + "/pages/1.png"):
        refused = alice.get(target)
        assert refused.status_code == 403 and _reason(refused) == "loan_revoked", target
    new = _events(p, before)
    assert [(e.action, e.outcome) for e in new] == [("items:content", "denied")] * 2
    assert {json.loads(e.details_json)["reason"] for e in new} == {"loan_revoked"}
    # expiry: the next view after the end is refused, with no action by anyone
    lend = p.ctx.lending()
    assert alice.get(f"/my-loans/{expiring['id']}/items/{b}/pages/1.png").status_code == 200
    clock = lend.clock
    lend.clock = lambda: time.time() + 30 * 86400
    try:
        refused = alice.get(f"/my-loans/{expiring['id']}/items/{b}/pages/1.png")
        assert refused.status_code == 403 and _reason(refused) == "loan_expired"
    finally:
        lend.clock = clock


def test_watermark_font_falls_back_to_pillow_s_default_with_a_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    found = reader.watermark_font()
    assert found.path is not None and found.path.endswith((".ttc", ".ttf", ".otf"))  # make setup's CJK fonts
    reader.watermark_font.cache_clear()
    monkeypatch.setattr(reader.shutil, "which", lambda name: None)  # no fc-match
    monkeypatch.setattr(reader, "KNOWN_FONTS", ("/nonexistent/font.ttc",))
    try:
        with caplog.at_level("WARNING", logger="node.lending.reader"):
            assert reader.watermark_font().path is None
        assert "no CJK font found" in caplog.text
        page = Image.new("RGB", (400, 300), (255, 255, 255))
        marked = reader.watermarked(page, "alice 2026-11-29 20:15 UTC")
        assert marked.size == page.size and ImageChops.difference(marked, page).getbbox() is not None
    finally:
        reader.watermark_font.cache_clear()


def test_kinds_are_sniffed_from_the_bytes_not_the_name(tmp_path: Any) -> None:
    cases = {"a.png": (_png(), reader.IMAGE), "b.txt": (_pdf(1), reader.PDF), "c.pdf": (b"just text", reader.OTHER)}
    for name, (data, kind) in cases.items():
        (tmp_path / name).write_bytes(data)
        assert reader.kind_of(tmp_path / name) == kind, name
    assert reader.page_count(tmp_path / "b.txt", reader.PDF) == 1
    with pytest.raises(Exception) as refused:
        reader.render_page(tmp_path / "b.txt", reader.PDF, reader.MAX_PAGES + 1)
    assert getattr(refused.value, "reason", None) == "no_such_page"
