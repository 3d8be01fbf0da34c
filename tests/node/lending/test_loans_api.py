"""Loans over the HTTP API on the in-process chain: the real ReadPermits, real EIP-712 signatures by
the approver's own key, certificates checked like an auditor would."""

# ruff: noqa: F811  (`people` is the fixture imported from tests.helpers.loans)
from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers.loans import PASSWORD, People, people, request_loan  # noqa: F401  (the lending fixture)
from verifier.certificate import verify_certificate
from verifier.trustroot import load_trust_root

ANY_LOG = b"\x00" * 32


def _officer_account(ctx: Any, role: str) -> Any:
    from sqlalchemy import select

    from node.core.models import User, UserRole
    from node.users.service import unlock_chain_key

    with ctx.reader() as s:
        user = s.scalars(select(User).join(UserRole, UserRole.user_id == User.id).where(UserRole.role == role)).first()
    password = (ctx.settings.officers_dir / f"{user.username}.password").read_text().strip()
    return unlock_chain_key(user, password)


def test_request_approve_fetch_certify_revoke(people: People) -> None:
    p = people
    a, b = p.ingest(b"record A" * 50), p.ingest(b"record B" * 50)
    assert p.api.post("/anchor").status_code == 200
    loan = request_loan(p, "alice", [a])
    assert p.call("alice", "GET", f"/items/{a}/content").status_code == 403  # not approved yet
    # carol sees the pending request and approves it with her own key
    pending = p.call("carol", "GET", "/loans", params={"status": "requested"}).json()["loans"]
    assert [x["id"] for x in pending] == [loan["id"]]
    r = p.call("carol", "POST", f"/loans/{loan['id']}/approve", json={"password": PASSWORD})
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["status"] == "APPROVED" and approved["approver_address"] == p.addresses["carol"]
    permit_id = approved["items"][0]["permit_id"]

    r = p.call("alice", "GET", f"/items/{a}/content")
    assert r.status_code == 200 and r.content == b"record A" * 50
    assert r.headers["X-Permit-Id"] == permit_id and loan["id"] in r.headers["Link"]
    # a permit for A does not open B, nor does Alice's permit open A for Bob
    assert p.call("alice", "GET", f"/items/{b}/content").status_code == 403
    assert p.call("bob", "GET", f"/items/{a}/content").status_code == 403

    certs = p.call("alice", "GET", f"/loans/{loan['id']}/certificates").json()["certificates"]
    cert = certs[0]["certificate"]
    trust = load_trust_root(p.api.get("/trust").json())  # what an auditor pinned
    payload = verify_certificate(cert, trust)
    assert payload["trust_root_sha256"] == trust.sha256 and cert["public_key"] == trust.verifier_keys[-1].public_key
    assert payload["outcome"] == "authentic"
    assert payload["bundle"]["record"]["item_id"] == a
    assert payload["permit"]["permit_id"] == permit_id and payload["permit"]["approver"] == p.addresses["carol"]
    assert payload["permit"]["tx_hash"] == approved["items"][0]["tx_hash"]

    shown = p.call("alice", "GET", f"/permits/{permit_id}").json()
    assert shown["chain"]["valid_now"] is True and shown["chain"]["permit"]["approver"] == p.addresses["carol"]

    r = p.call("carol", "POST", f"/loans/{loan['id']}/revoke", json={"password": PASSWORD, "reason": "done"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "REVOKED" and r.json()["items"][0]["revoke_tx_hash"]
    r = p.call("alice", "GET", f"/items/{a}/content")
    assert r.status_code == 403 and r.json()["error"] == "loan_revoked"
    assert p.call("alice", "GET", f"/permits/{permit_id}").json()["chain"]["valid_now"] is False


def test_permit_check_follows_the_chain(people: People) -> None:
    """A revocation made on chain without the node (e.g. by the security admin directly) ends access
    at the first fetch after its block."""
    from anchor import eip712

    p = people
    a = p.ingest(b"record C" * 10)
    p.api.post("/anchor")
    loan = request_loan(p, "alice", [a])
    approved = p.call("carol", "POST", f"/loans/{loan['id']}/approve", json={"password": PASSWORD}).json()
    assert p.call("alice", "GET", f"/items/{a}/content").status_code == 200
    pid = bytes.fromhex(approved["items"][0]["permit_id"])
    client, settings = p.ctx.chain(), p.ctx.settings
    secadm = _officer_account(p.ctx, "security_admin")
    from contracts import load_artifact

    permits = client.contract(settings.permits_address, load_artifact("ReadPermits"))
    sig = eip712.sign_revoke(secadm, pid, client.chain_id, settings.permits_address)
    client.wait_confirmed(client.send(secadm, permits.functions.revoke(pid, sig)).tx_hash)
    r = p.call("alice", "GET", f"/items/{a}/content")
    assert r.status_code == 403 and r.json()["error"] == "permit_revoked_or_invalid"


def test_separation_of_duties_and_rejection(people: People) -> None:
    p = people
    a = p.ingest(b"record D" * 10)
    own = request_loan(p, "dave", [a])
    r = p.call("dave", "POST", f"/loans/{own['id']}/approve", json={"password": PASSWORD})
    assert r.status_code == 403 and r.json()["error"] == "own_request"
    assert p.call("alice", "POST", f"/loans/{own['id']}/approve", json={"password": PASSWORD}).status_code == 403
    assert p.call("carol", "POST", "/loans", json={"items": [a], "purpose": "x", "days": 1}).status_code == 403
    r = p.call("carol", "POST", f"/loans/{own['id']}/reject", json={"reason": "not for this purpose"})
    assert r.status_code == 200 and r.json()["status"] == "REJECTED"
    assert p.call("dave", "GET", f"/loans/{own['id']}").json()["reason"] == "not for this purpose"
    # borrowers see only their own loans
    assert p.call("alice", "GET", f"/loans/{own['id']}").status_code == 404
    assert p.call("alice", "GET", "/loans").json()["loans"] == []
    # a wrong password unlocks nothing
    other = request_loan(p, "alice", [a])
    r = p.call("carol", "POST", f"/loans/{other['id']}/approve", json={"password": "wrong password 123"})
    assert r.status_code == 401


def test_return_ends_access_and_physical_records_get_a_slip(people: People) -> None:
    p = people
    scan = p.ingest(b"record E" * 10)
    paper = p.ingest(b"record F (paper, catalogue entry)", medium="physical", box="B-17", shelf="R2-S4")
    p.api.post("/anchor")
    loan = request_loan(p, "alice", [scan, paper])
    assert p.call("carol", "POST", f"/loans/{loan['id']}/approve", json={"password": PASSWORD}).status_code == 200
    assert p.call("alice", "GET", f"/items/{scan}/content").status_code == 200
    r = p.call("alice", "GET", f"/items/{paper}/content")
    assert r.status_code == 409 and r.json()["error"] == "physical_record"
    slip = p.call("alice", "GET", f"/loans/{loan['id']}/slip").json()
    assert [(x["item_id"], x["box"], x["shelf"]) for x in slip["records"]] == [(paper, "B-17", "R2-S4")]
    r = p.call("alice", "POST", f"/loans/{loan['id']}/return")
    assert r.status_code == 200 and r.json()["status"] == "RETURNED"
    r = p.call("alice", "GET", f"/items/{scan}/content")
    assert r.status_code == 403 and r.json()["error"] == "loan_returned"


def test_audit_trail_records_decisions_and_fetches(people: People, node_data: Path) -> None:
    p = people
    a = p.ingest(b"record G" * 10)
    p.api.post("/anchor")
    loan = request_loan(p, "alice", [a])
    p.call("carol", "POST", f"/loans/{loan['id']}/approve", json={"password": PASSWORD})
    p.call("alice", "GET", f"/items/{a}/content")
    p.call("bob", "GET", f"/items/{a}/content")
    from sqlalchemy import select

    from node.core.models import AuditEvent

    with p.ctx.reader() as s:
        events = [(e.action, e.outcome, e.target) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    actions = [e[0] for e in events]
    assert "loans:request" in actions and "loans:decide" in actions
    fetches = [e for e in events if e[2] == f"/items/{a}/content"]
    assert len(fetches) == 2 and {f[1] for f in fetches} >= {"denied"}
