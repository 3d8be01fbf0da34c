"""The lending workflow on a real database and a fake ReadPermits: states, separation of duties,
rejection reasons, revocation, return, expiry, physical records."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from anchor.db import make_engine, make_session_factory
from node.core.db import migrate
from node.core.errors import Conflict, InvalidInput, NotFound
from node.core.models import Loan, LoanStatus, User
from node.ingest.service import ItemMetadata, file_item
from node.lending.service import ChainRelayFailed, Forbidden, Lending
from tests.helpers.lending_fakes import APPROVER, BORROWER, SECURITY_ADMIN, FakePermits, Who

T0 = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
ALICE = Who("u-alice", BORROWER)
BOB = Who("u-bob", BORROWER)
CAROL = Who("u-carol", APPROVER)
SECADM = Who("u-sec", SECURITY_ADMIN)
DAVE = Who("u-dave", BORROWER | APPROVER)
CAROL_KEY = SimpleNamespace(address="0x" + "ca" * 20)


class Event:
    """A request's audit event as the workflow sees it (node/audit/request.py, RequestAudit): the
    target it declares, and the ok event it records in its transaction, at most once."""

    def __init__(self) -> None:
        self.target: str | None = None
        self.recorded = False

    def declare(self, *, target: str | None = None, fonds: str | None = None, **details: object) -> None:
        self.target = target or self.target

    def record(self, session, *, target=None, details=None, fonds=None, outcome="ok") -> None:  # type: ignore[no-untyped-def]
        assert not self.recorded, "a second event for one request"
        assert session.in_transaction(), "the event is written inside the workflow's transaction"
        self.declare(target=target)
        self.recorded = True


class World:
    def __init__(self, tmp: Path) -> None:
        url = f"sqlite:///{tmp / 'lend.db'}"
        migrate(url)
        self.engine = make_engine(url)
        self.sessions = make_session_factory(self.engine)
        with self.sessions() as s, s.begin():
            for who in (ALICE, BOB, CAROL, SECADM, DAVE):
                s.add(User(id=who.id, username=who.id[2:], password_hash="-"))
        self.chain = FakePermits()
        self.clock = [T0.timestamp()]
        self.requests: list[Event] = []
        self.lending = Lending(
            sessions=self.sessions,
            reader=make_session_factory(self.engine, readonly=True),
            ledger=lambda: self.chain,
            pseudonym=lambda uid: hashlib.sha256(b"grantee:" + uid.encode()).digest(),
            chain_id=1337,
            contract=lambda: "0x" + "ab" * 20,
            max_period_s=30 * 86400,
            clock=lambda: self.clock[0],
            certify=lambda item_id, permit: {"item": item_id, "permit": permit},
        )

    @property
    def audit(self) -> Event:
        """A new request's audit event (one per workflow call, as over HTTP)."""
        event = Event()
        self.requests.append(event)
        return event

    @property
    def events(self) -> list[tuple[str | None, str]]:
        """(target, outcome) per request: "ok" when the workflow recorded it, "boundary" when it left the
        event to the HTTP boundary (a refusal: node/audit/middleware.py writes it as denied or failed)."""
        return [(e.target, "ok" if e.recorded else "boundary") for e in self.requests]

    def item(self, n: int, **extra: str) -> str:
        meta = ItemMetadata(fonds="Z001", title=f"item {n}", category="WS", year=2020, retention="30y",
                            extra=extra)  # fmt: skip
        with self.sessions() as s, s.begin():
            return file_item(s, meta, hashlib.sha256(str(n).encode()).hexdigest(), 10, None).id

    def request(self, who: Who = ALICE, items: list[str] | None = None, days: float = 7) -> dict:
        return self.lending.request(who, items or [self.item(1)], "research on port history",
                                    T0 + timedelta(days=days), audit=self.audit)  # fmt: skip

    def advance(self, seconds: float) -> None:
        self.clock[0] += seconds


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    w = World(tmp_path)
    yield w
    w.engine.dispose()


def test_request_approve_fetch_return(world: World) -> None:
    a, b = world.item(1), world.item(2)
    loan = world.request(items=[a, b])
    assert loan["status"] == "REQUESTED" and len(loan["items"]) == 2
    assert not world.lending.content_access(ALICE, a).allowed

    approved = world.lending.approve(CAROL, loan["id"], account=CAROL_KEY, audit=world.audit)
    assert approved["status"] == "APPROVED" and approved["approver_address"] == CAROL_KEY.address
    assert all(i["permit_id"] and i["tx_hash"] for i in approved["items"])
    access = world.lending.content_access(ALICE, a)
    assert access.allowed and access.loan_id == loan["id"]
    # the permit is for Alice only, and only for the loan's items
    assert world.lending.content_access(BOB, a).reason == "no_loan"
    assert not world.lending.content_access(ALICE, world.item(3)).allowed
    certs = world.lending.certificates(ALICE, loan["id"])["certificates"]
    assert {c["item_id"] for c in certs} == {a, b}
    assert certs[0]["certificate"]["permit"]["approver"] == CAROL_KEY.address

    returned = world.lending.return_loan(ALICE, loan["id"], audit=world.audit)
    assert returned["status"] == "RETURNED"
    # access ends at once in the node though the permit is still valid on chain
    pid = bytes.fromhex(approved["items"][0]["permit_id"])
    assert world.chain.is_valid(pid, int(world.clock[0]))
    assert world.lending.content_access(ALICE, a).reason == "loan_returned"
    assert [e[1] for e in world.events] == ["ok", "ok", "ok"]


def test_an_approver_cannot_decide_their_own_request(world: World) -> None:
    both = DAVE
    loan = world.request(who=both)
    with pytest.raises(Forbidden) as err:
        world.lending.approve(both, loan["id"], account=CAROL_KEY, audit=world.audit)
    assert err.value.reason == "own_request"
    with pytest.raises(Forbidden):
        world.lending.reject(both, loan["id"], "no", audit=world.audit)
    assert world.events[-1] == (f"loan:{loan['id']}", "boundary") and world.chain.permits == {}
    assert world.lending.get(both, loan["id"])["status"] == "REQUESTED"


def test_borrowers_cannot_decide_and_approvers_cannot_request(world: World) -> None:
    loan = world.request()
    with pytest.raises(Forbidden):
        world.lending.approve(BOB, loan["id"], account=CAROL_KEY)
    with pytest.raises(Forbidden):
        world.request(who=CAROL)
    with pytest.raises(Forbidden):
        world.lending.revoke(ALICE, loan["id"], account=CAROL_KEY)


def test_reject_needs_a_reason_and_is_final(world: World) -> None:
    loan = world.request()
    with pytest.raises(InvalidInput):
        world.lending.reject(CAROL, loan["id"], "  ")
    rejected = world.lending.reject(CAROL, loan["id"], "purpose does not justify access to personnel files")
    assert rejected["status"] == "REJECTED" and rejected["reason"].startswith("purpose does not")
    for action in (
        lambda: world.lending.approve(CAROL, loan["id"], account=CAROL_KEY),
        lambda: world.lending.reject(CAROL, loan["id"], "again"),
        lambda: world.lending.return_loan(ALICE, loan["id"]),
    ):
        with pytest.raises(Conflict):
            action()
    assert world.chain.permits == {}


def test_revoke_ends_access_then_on_chain(world: World) -> None:
    a = world.item(1)
    loan = world.request(items=[a])
    world.lending.approve(CAROL, loan["id"], account=CAROL_KEY)
    assert world.lending.content_access(ALICE, a).allowed
    revoked = world.lending.revoke(SECADM, loan["id"], account=CAROL_KEY, reason="misuse", audit=world.audit)
    assert revoked["status"] == "REVOKED" and revoked["items"][0]["revoke_tx_hash"]
    assert world.chain.revoked == {bytes.fromhex(revoked["items"][0]["permit_id"])}
    assert world.lending.content_access(ALICE, a).reason == "loan_revoked"
    with pytest.raises(Conflict):
        world.lending.return_loan(ALICE, loan["id"])


def test_revoke_with_the_chain_down_ends_access_and_can_be_finished_later(world: World) -> None:
    a = world.item(1)
    loan = world.request(items=[a])
    world.lending.approve(CAROL, loan["id"], account=CAROL_KEY)
    world.chain.down = True
    with pytest.raises(ChainRelayFailed):
        world.lending.revoke(CAROL, loan["id"], account=CAROL_KEY)
    assert world.lending.get(CAROL, loan["id"])["status"] == "REVOKED"
    assert not world.lending.content_access(ALICE, a).allowed
    world.chain.down = False
    again = world.lending.revoke(CAROL, loan["id"], account=CAROL_KEY)
    assert again["items"][0]["revoke_tx_hash"] and len(world.chain.revoked) == 1


def test_chain_check_sees_a_revocation_made_outside_the_node(world: World) -> None:
    a = world.item(1)
    loan = world.request(items=[a])
    approved = world.lending.approve(CAROL, loan["id"], account=CAROL_KEY)
    assert world.lending.content_access(ALICE, a).allowed
    world.chain.revoke(bytes.fromhex(approved["items"][0]["permit_id"]), b"sig")  # e.g. by another node
    assert world.lending.content_access(ALICE, a).reason == "permit_revoked_or_invalid"


def test_expiry_ends_access_without_any_action(world: World) -> None:
    a = world.item(1)
    loan = world.request(items=[a], days=1)
    world.lending.approve(CAROL, loan["id"], account=CAROL_KEY)
    assert world.lending.content_access(ALICE, a).allowed
    world.advance(86400)
    assert world.lending.get(ALICE, loan["id"])["status"] == "EXPIRED"
    assert not world.lending.content_access(ALICE, a).allowed
    assert [x["id"] for x in world.lending.list(CAROL, status="expired")["loans"]] == [loan["id"]]
    with pytest.raises(Conflict):
        world.lending.return_loan(ALICE, loan["id"])


def test_period_rules(world: World) -> None:
    item = world.item(1)
    with pytest.raises(InvalidInput) as err:
        world.lending.request(ALICE, [item], "x", T0 + timedelta(days=31))
    assert err.value.reason == "period_too_long"
    with pytest.raises(InvalidInput):
        world.lending.request(ALICE, [item], "x", T0 - timedelta(seconds=1))
    with pytest.raises(InvalidInput):
        world.lending.request(ALICE, [item], "", T0 + timedelta(days=1))
    with pytest.raises(NotFound):
        world.lending.request(ALICE, [item, "f" * 32], "x", T0 + timedelta(days=1))
    loan = world.request(items=[item], days=1)
    world.advance(2 * 86400)  # nobody decided in time
    with pytest.raises(Conflict):
        world.lending.approve(CAROL, loan["id"], account=CAROL_KEY)


def test_borrowers_see_only_their_own_loans(world: World) -> None:
    mine = world.request(who=ALICE)
    theirs = world.request(who=BOB)
    assert [x["id"] for x in world.lending.list(ALICE)["loans"]] == [mine["id"]]
    assert {x["id"] for x in world.lending.list(CAROL)["loans"]} == {mine["id"], theirs["id"]}
    with pytest.raises(NotFound):
        world.lending.get(ALICE, theirs["id"])
    with pytest.raises(NotFound):
        world.lending.return_loan(ALICE, theirs["id"])


def test_physical_records_get_a_slip_not_content(world: World) -> None:
    paper = world.item(1, medium="physical", box="B-0042", shelf="R3-S12")
    scan = world.item(2)
    loan = world.request(items=[paper, scan])
    assert {i["medium"] for i in loan["items"]} == {"physical", "digital"}
    with pytest.raises(Conflict):  # no slip before approval
        world.lending.slip(ALICE, loan["id"])
    world.lending.approve(CAROL, loan["id"], account=CAROL_KEY)
    access = world.lending.content_access(ALICE, paper)
    assert not access.allowed and access.reason == "physical_record"
    assert access.physical == {"box": "B-0042", "shelf": "R3-S12"}
    assert world.lending.content_access(ALICE, scan).allowed
    slip = world.lending.slip(ALICE, loan["id"])
    assert [(r["item_id"], r["box"], r["shelf"]) for r in slip["records"]] == [(paper, "B-0042", "R3-S12")]
    assert slip["approver_address"] == CAROL_KEY.address


def test_approval_is_idempotent_on_chain(world: World) -> None:
    """A crash between the relay and the commit: approving again re-grants the same permit ids."""
    a = world.item(1)
    loan = world.request(items=[a])
    permits = world.lending.permits_to_sign(loan["id"])
    world.chain.grant_many([(p, b"s") for _, p in permits])  # as if relayed, then the node died
    approved = world.lending.approve(CAROL, loan["id"], account=CAROL_KEY)
    assert len(world.chain.permits) == 1
    assert approved["items"][0]["permit_id"] == world.chain.permit_id(permits[0][1]).hex()


def test_client_side_signatures(world: World) -> None:
    a = world.item(1)
    loan = world.request(items=[a])
    with pytest.raises(InvalidInput):
        world.lending.approve(CAROL, loan["id"], signatures={})
    sig = world.chain.sign_permit(CAROL_KEY, world.lending.permits_to_sign(loan["id"])[0][1])
    approved = world.lending.approve(CAROL, loan["id"], signatures={a: sig}, signer=CAROL_KEY.address)
    assert approved["status"] == "APPROVED"


def test_stored_status_catches_up_with_expiry(world: World) -> None:
    loan = world.request(days=1)
    world.lending.approve(CAROL, loan["id"], account=CAROL_KEY)
    world.advance(86400 + 1)
    with pytest.raises(Conflict):
        world.lending.return_loan(ALICE, loan["id"])
    with world.sessions() as s:
        assert s.get(Loan, loan["id"]).status == LoanStatus.APPROVED  # the refused write rolled back
