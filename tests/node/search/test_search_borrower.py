"""A borrower's search through the real lending workflow (on-chain permits): the text of an item is
searchable and shown only while the borrower holds a valid permit for it, at query time."""

# ruff: noqa: F811  (`people` is the fixture imported from tests.helpers.loans)
from __future__ import annotations

from datetime import UTC, datetime

from node.core.models import ItemText, TextStatus
from tests.helpers.loans import PASSWORD, People, people, request_loan  # noqa: F401  (the lending fixture)


def test_text_hits_follow_the_permit(people: People) -> None:
    p = people
    a, b = p.ingest(b"record A" * 50), p.ingest(b"record B" * 50)
    with p.ctx.sessions() as s, s.begin():
        for item_id in (a, b):
            s.add(ItemText(item_id=item_id, status=TextStatus.DONE, text="码头租赁合同全文，租期五年。",
                           extracted_at=datetime.now(UTC)))  # fmt: skip
    p.ctx.search().catch_up()
    assert p.api.post("/anchor").status_code == 200

    def hits(who: str) -> dict:
        r = p.call(who, "GET", "/search", params={"q": "租赁"})
        assert r.status_code == 200, r.text
        return r.json()

    assert hits("alice")["total"] == 0  # no loan: the text is not hers to search
    loan = request_loan(p, "alice", [a])
    assert hits("alice")["total"] == 0  # requested, not approved
    r = p.call("carol", "POST", f"/loans/{loan['id']}/approve", json={"password": PASSWORD})
    assert r.status_code == 200, r.text
    answer = hits("alice")
    assert answer["total"] == 1 and [i["id"] for i in answer["items"]] == [a]  # not b
    assert "<mark>租赁</mark>" in answer["items"][0]["highlights"]["text"]
    assert hits("bob")["total"] == 0  # alice's permit opens nothing for bob
    assert hits("carol")["total"] == 0  # the approver decides loans, it does not read them
    r = p.call("carol", "POST", f"/loans/{loan['id']}/revoke", json={"password": PASSWORD, "reason": "done"})
    assert r.status_code == 200, r.text
    assert hits("alice")["total"] == 0  # revoked: gone at the next query
