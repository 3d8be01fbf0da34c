"""ArchiveRoles on the in-process chain: every rule, and each forbidden path.

Officers (SYSTEM_ADMIN, SECURITY_ADMIN, AUDITOR) are mutually exclusive, change only by two officers
(neither of them the account changed), the last holder of an officer role stays; SYSTEM_ADMIN
administers anchorers, SECURITY_ADMIN approvers; officers hold no business role and vice versa.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

from anchor.chain.dev import fund_from_dev_account
from contracts import load_artifact
from tests.helpers.evm import (
    ANY_LOG,
    AUDITOR,
    LOG_A,
    LOG_B,
    SECURITY_ADMIN,
    SYSTEM_ADMIN,
    TWO_OFFICERS,
    Harness,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PENDING, EXECUTED, CANCELLED = 1, 2, 3


def anchorer_role(log: bytes) -> bytes:
    return keccak(encode(["string", "bytes32"], ["ANCHORER", log]))


def approver_role(log: bytes) -> bytes:
    return keccak(encode(["string", "bytes32"], ["APPROVER", log]))


@dataclass
class Roles:
    h: Harness
    c: Any
    sys: str
    sec: str
    aud: str
    deployer: str
    others: list[str]

    @property
    def fn(self) -> Any:
        return self.c.functions

    def officers_change(self, role: bytes, account: str, grant: bool, proposer: str, confirmer: str) -> Any:
        pid = self.fn.proposalCount().call() + 1
        self.h.send(self.fn.proposeOfficerChange(role, account, grant), proposer)
        return self.h.send(self.fn.confirmOfficerChange(pid), confirmer)


@pytest.fixture(scope="module")
def roles_chain() -> Roles:
    h = Harness.create()
    a = h.w3.eth.accounts
    c = h.deploy("ArchiveRoles", a[9], a[0], a[1], a[2])
    return Roles(h, c, a[0], a[1], a[2], a[9], list(a[3:9]))


@pytest.fixture
def r(roles_chain: Roles):
    snap = roles_chain.h.w3.testing.snapshot()
    yield roles_chain
    roles_chain.h.w3.testing.revert(snap)


# ---------------------------------------------------------------- construction


def test_constructor_sets_three_officers_and_nobody_else(r: Roles):
    fn = r.fn
    assert fn.SYSTEM_ADMIN_ROLE().call() == SYSTEM_ADMIN
    assert fn.SECURITY_ADMIN_ROLE().call() == SECURITY_ADMIN
    assert fn.AUDITOR_ROLE().call() == AUDITOR
    assert fn.ANY_LOG().call() == ANY_LOG
    assert fn.rolesVersion().call() == "archive-ledger/ArchiveRoles/1"
    assert [fn.officerRoleOf(x).call() for x in (r.sys, r.sec, r.aud)] == [SYSTEM_ADMIN, SECURITY_ADMIN, AUDITOR]
    for role in (SYSTEM_ADMIN, SECURITY_ADMIN, AUDITOR):
        assert fn.officerCount(role).call() == 1
        assert fn.getRoleAdmin(role).call() == TWO_OFFICERS
        assert fn.isOfficerRole(role).call()
    assert not fn.isOfficerRole(anchorer_role(ANY_LOG)).call()
    # The deployer holds nothing, and nobody holds DEFAULT_ADMIN_ROLE.
    assert fn.officerRoleOf(r.deployer).call() == b"\x00" * 32
    for who in (r.deployer, r.sys, r.sec, r.aud):
        assert not fn.hasRole(b"\x00" * 32, who).call()
        assert not fn.hasRole(TWO_OFFICERS, who).call()
    # Derived role ids, as off-chain code computes them.
    assert fn.anchorerRole(LOG_A).call() == anchorer_role(LOG_A)
    assert fn.approverRole(LOG_A).call() == approver_role(LOG_A)
    assert anchorer_role(LOG_A) != approver_role(LOG_A)


def test_constructor_refuses_zero_and_repeated_officers(r: Roles):
    zero = "0x" + "00" * 20
    a, b, c = r.others[:3]
    assert r.h.deploy_revert("ArchiveRoles", zero, b, c) == ("ZeroAddress", ())
    assert r.h.deploy_revert("ArchiveRoles", a, zero, c) == ("ZeroAddress", ())
    assert r.h.deploy_revert("ArchiveRoles", a, b, zero) == ("ZeroAddress", ())
    for args in ((a, a, c), (a, b, a), (a, b, b)):
        assert r.h.deploy_revert("ArchiveRoles", *args) == ("OfficersNotDistinct", ())


def test_access_control_entry_points_are_closed(r: Roles):
    x = r.others[0]
    for role in (SYSTEM_ADMIN, SECURITY_ADMIN, AUDITOR):
        for sender in (r.sys, r.sec, r.aud, r.deployer):
            assert r.h.revert(r.fn.grantRole(role, x), sender) == ("OfficerChangeNeedsTwoOfficers", (role,))
            assert r.h.revert(r.fn.revokeRole(role, r.sys), sender) == ("OfficerChangeNeedsTwoOfficers", (role,))
        # An officer cannot resign alone either (that too is changing one's own roles).
    for who, role in ((r.sys, SYSTEM_ADMIN), (r.sec, SECURITY_ADMIN), (r.aud, AUDITOR)):
        assert r.h.revert(r.fn.renounceRole(role, who), who) == ("OfficerChangeNeedsTwoOfficers", (role,))
    for role in (anchorer_role(LOG_A), approver_role(ANY_LOG), b"\x00" * 32):
        assert r.h.revert(r.fn.grantRole(role, x), r.sys) == ("UseDedicatedFunction", (role,))
        assert r.h.revert(r.fn.revokeRole(role, x), r.sec) == ("UseDedicatedFunction", (role,))
        assert r.h.revert(r.fn.renounceRole(role, x), x) == ("UseDedicatedFunction", (role,))


# ---------------------------------------------------------------- two-officer flow


def test_grant_officer_role_by_two_officers(r: Roles):
    new = r.others[0]
    receipt = r.h.send(r.fn.proposeOfficerChange(SECURITY_ADMIN, new, True), r.sys)
    assert r.h.events(r.c, "OfficerChangeProposed", receipt) == [
        {"proposalId": 1, "role": SECURITY_ADMIN, "account": new, "grant": True, "proposer": r.sys}
    ]
    assert r.fn.proposalCount().call() == 1
    assert r.fn.getProposal(1).call() == (SECURITY_ADMIN, new, True, r.sys, PENDING)
    assert not r.fn.hasRole(SECURITY_ADMIN, new).call()  # one officer is not enough

    receipt = r.h.send(r.fn.confirmOfficerChange(1), r.aud)
    assert r.h.events(r.c, "OfficerChangeConfirmed", receipt) == [{"proposalId": 1, "confirmer": r.aud}]
    granted = r.h.events(r.c, "RoleGranted", receipt)
    assert granted == [{"role": SECURITY_ADMIN, "account": new, "sender": r.aud}]
    assert r.fn.hasRole(SECURITY_ADMIN, new).call()
    assert r.fn.officerCount(SECURITY_ADMIN).call() == 2
    assert r.fn.getProposal(1).call()[4] == EXECUTED
    assert r.h.revert(r.fn.confirmOfficerChange(1), r.sec) == ("ProposalNotPending", (1, EXECUTED))


def test_replace_an_officer_then_last_holder_stays(r: Roles):
    new = r.others[0]
    r.officers_change(SECURITY_ADMIN, new, True, r.sys, r.aud)
    receipt = r.officers_change(SECURITY_ADMIN, r.sec, False, new, r.sys)  # the new one may remove the old
    assert r.h.events(r.c, "RoleRevoked", receipt) == [{"role": SECURITY_ADMIN, "account": r.sec, "sender": r.sys}]
    assert r.fn.officerRoleOf(r.sec).call() == b"\x00" * 32
    assert r.fn.officerCount(SECURITY_ADMIN).call() == 1
    # The last holder of a role cannot be removed: proposal accepted, confirmation refused.
    r.h.send(r.fn.proposeOfficerChange(SECURITY_ADMIN, new, False), r.sys)
    pid = r.fn.proposalCount().call()
    assert r.h.revert(r.fn.confirmOfficerChange(pid), r.aud) == ("LastOfficer", (SECURITY_ADMIN,))
    # The removed officer has no officer powers any more.
    assert r.h.revert(r.fn.proposeOfficerChange(AUDITOR, r.others[1], True), r.sec) == ("NotOfficer", (r.sec,))
    assert r.h.revert(r.fn.confirmOfficerChange(pid), r.sec) == ("NotOfficer", (r.sec,))


def test_no_officer_changes_their_own_roles(r: Roles):
    # Proposing a change of one's own roles (grant a second one, or drop one's own).
    for who in (r.sys, r.sec, r.aud):
        for role in (SYSTEM_ADMIN, SECURITY_ADMIN, AUDITOR):
            for grant in (True, False):
                assert r.h.revert(r.fn.proposeOfficerChange(role, who, grant), who) == ("OwnRoleChange", (who,))
    # Confirming a change of one's own roles: the security admin would get AUDITOR as a second role.
    r.h.send(r.fn.proposeOfficerChange(AUDITOR, r.sec, True), r.sys)
    assert r.h.revert(r.fn.confirmOfficerChange(1), r.sec) == ("OwnRoleChange", (r.sec,))
    # ...and even with a third officer confirming, no address holds two officer roles.
    assert r.h.revert(r.fn.confirmOfficerChange(1), r.aud) == ("OfficerConflict", (r.sec, SECURITY_ADMIN, AUDITOR))


def test_confirmer_must_differ_from_proposer(r: Roles):
    new = r.others[0]
    r.h.send(r.fn.proposeOfficerChange(AUDITOR, new, True), r.sys)
    assert r.h.revert(r.fn.confirmOfficerChange(1), r.sys) == ("SameOfficer", (1, r.sys))
    assert not r.fn.hasRole(AUDITOR, new).call()


def test_only_officers_propose_and_confirm(r: Roles):
    x, y = r.others[:2]
    r.h.send(r.fn.grantAnchorer(ANY_LOG, y), r.sys)
    for outsider in (x, y, r.deployer):
        assert r.h.revert(r.fn.proposeOfficerChange(AUDITOR, x, True), outsider) == ("NotOfficer", (outsider,))
    r.h.send(r.fn.proposeOfficerChange(AUDITOR, x, True), r.sys)
    for outsider in (x, y, r.deployer):
        assert r.h.revert(r.fn.confirmOfficerChange(1), outsider) == ("NotOfficer", (outsider,))


def test_proposal_validation(r: Roles):
    x = r.others[0]
    other_role = anchorer_role(ANY_LOG)
    assert r.h.revert(r.fn.proposeOfficerChange(other_role, x, True), r.sys) == ("NotOfficerRole", (other_role,))
    assert r.h.revert(r.fn.proposeOfficerChange(b"\x00" * 32, x, True), r.sys)[0] == "NotOfficerRole"
    zero = "0x" + "00" * 20
    assert r.h.revert(r.fn.proposeOfficerChange(AUDITOR, zero, True), r.sys) == ("ZeroAddress", ())
    assert r.h.revert(r.fn.proposeOfficerChange(AUDITOR, r.aud, True), r.sys) == (
        "NothingToChange", (AUDITOR, r.aud, True),
    )  # fmt: skip
    assert r.h.revert(r.fn.proposeOfficerChange(AUDITOR, x, False), r.sys) == ("NothingToChange", (AUDITOR, x, False))
    assert r.h.revert(r.fn.confirmOfficerChange(7), r.sys) == ("UnknownProposal", (7,))
    assert r.h.revert(r.fn.confirmOfficerChange(0), r.sys) == ("UnknownProposal", (0,))


def test_confirm_rechecks_state(r: Roles):
    """Two proposals for the same change: the second one finds nothing left to do."""
    x = r.others[0]
    r.h.send(r.fn.proposeOfficerChange(AUDITOR, x, True), r.sys)
    r.h.send(r.fn.proposeOfficerChange(AUDITOR, x, True), r.sec)
    r.h.send(r.fn.confirmOfficerChange(1), r.aud)
    assert r.h.revert(r.fn.confirmOfficerChange(2), r.aud) == ("NothingToChange", (AUDITOR, x, True))


def test_cancel(r: Roles):
    x = r.others[0]
    r.h.send(r.fn.proposeOfficerChange(AUDITOR, x, True), r.sys)
    assert r.h.revert(r.fn.cancelOfficerChange(1), r.sec) == ("NotProposer", (1, r.sec))
    receipt = r.h.send(r.fn.cancelOfficerChange(1), r.sys)
    assert r.h.events(r.c, "OfficerChangeCancelled", receipt) == [{"proposalId": 1}]
    assert r.fn.getProposal(1).call()[4] == CANCELLED
    assert r.h.revert(r.fn.confirmOfficerChange(1), r.sec) == ("ProposalNotPending", (1, CANCELLED))
    assert r.h.revert(r.fn.cancelOfficerChange(1), r.sys) == ("ProposalNotPending", (1, CANCELLED))
    assert r.h.revert(r.fn.cancelOfficerChange(5), r.sys) == ("UnknownProposal", (5,))


def test_proposal_of_a_removed_officer_cannot_be_confirmed(r: Roles):
    second, x = r.others[:2]
    r.officers_change(SYSTEM_ADMIN, second, True, r.sec, r.aud)
    r.h.send(r.fn.proposeOfficerChange(AUDITOR, x, True), r.sys)
    pid = r.fn.proposalCount().call()
    r.officers_change(SYSTEM_ADMIN, r.sys, False, second, r.aud)  # the proposer is removed
    assert r.h.revert(r.fn.confirmOfficerChange(pid), r.sec) == ("ProposerNotOfficer", (pid, r.sys))


def test_officer_roles_are_mutually_exclusive(r: Roles):
    # Every pair (holder's role, second role), proposed and confirmed by the other two officers.
    holders = {SYSTEM_ADMIN: r.sys, SECURITY_ADMIN: r.sec, AUDITOR: r.aud}
    for held, who in holders.items():
        others = [o for o in holders.values() if o != who]
        for role in holders:
            if role == held:
                continue
            r.h.send(r.fn.proposeOfficerChange(role, who, True), others[0])
            pid = r.fn.proposalCount().call()
            assert r.h.revert(r.fn.confirmOfficerChange(pid), others[1]) == ("OfficerConflict", (who, held, role))


# ---------------------------------------------------------------- anchorers and approvers


def test_anchorers_managed_by_system_admin_only(r: Roles):
    x = r.others[0]
    for sender in (r.sec, r.aud, r.deployer, x):
        assert r.h.revert(r.fn.grantAnchorer(LOG_A, x), sender) == (
            "AccessControlUnauthorizedAccount", (sender, SYSTEM_ADMIN),
        )  # fmt: skip
    receipt = r.h.send(r.fn.grantAnchorer(LOG_A, x), r.sys)
    assert r.h.events(r.c, "AnchorerChanged", receipt) == [{"logId": LOG_A, "account": x, "granted": True, "by": r.sys}]
    assert r.fn.getRoleAdmin(anchorer_role(LOG_A)).call() == SYSTEM_ADMIN
    assert r.fn.isAnchorer(LOG_A, x).call() and not r.fn.isAnchorer(LOG_B, x).call()
    assert not r.fn.isApprover(LOG_A, x).call()  # anchoring is not approving
    assert r.fn.businessRoleCount(x).call() == 1
    # A repeated grant changes nothing and emits nothing.
    assert r.h.events(r.c, "AnchorerChanged", r.h.send(r.fn.grantAnchorer(LOG_A, x), r.sys)) == []
    assert r.fn.businessRoleCount(x).call() == 1
    for sender in (r.sec, r.aud, x):
        assert r.h.revert(r.fn.revokeAnchorer(LOG_A, x), sender)[0] == "AccessControlUnauthorizedAccount"
    receipt = r.h.send(r.fn.revokeAnchorer(LOG_A, x), r.sys)
    assert r.h.events(r.c, "AnchorerChanged", receipt) == [
        {"logId": LOG_A, "account": x, "granted": False, "by": r.sys}
    ]
    assert not r.fn.isAnchorer(LOG_A, x).call()
    assert r.fn.businessRoleCount(x).call() == 0
    zero = "0x" + "00" * 20
    assert r.h.revert(r.fn.grantAnchorer(LOG_A, zero), r.sys) == ("ZeroAddress", ())


def test_approvers_managed_by_security_admin_only(r: Roles):
    x = r.others[0]
    for sender in (r.sys, r.aud, r.deployer, x):
        assert r.h.revert(r.fn.grantApprover(LOG_A, x), sender) == (
            "AccessControlUnauthorizedAccount", (sender, SECURITY_ADMIN),
        )  # fmt: skip
    receipt = r.h.send(r.fn.grantApprover(LOG_A, x), r.sec)
    assert r.h.events(r.c, "ApproverChanged", receipt) == [{"logId": LOG_A, "account": x, "granted": True, "by": r.sec}]
    assert r.fn.getRoleAdmin(approver_role(LOG_A)).call() == SECURITY_ADMIN
    assert r.fn.isApprover(LOG_A, x).call() and not r.fn.isApprover(LOG_B, x).call()
    assert not r.fn.isAnchorer(LOG_A, x).call()
    for sender in (r.sys, r.aud, x):
        assert r.h.revert(r.fn.revokeApprover(LOG_A, x), sender)[0] == "AccessControlUnauthorizedAccount"
    receipt = r.h.send(r.fn.revokeApprover(LOG_A, x), r.sec)
    assert r.h.events(r.c, "ApproverChanged", receipt)[0]["granted"] is False
    assert not r.fn.isApprover(LOG_A, x).call()
    zero = "0x" + "00" * 20
    assert r.h.revert(r.fn.grantApprover(LOG_A, zero), r.sec) == ("ZeroAddress", ())


def test_any_log_wildcard(r: Roles):
    x, y = r.others[:2]
    r.h.send(r.fn.grantAnchorer(ANY_LOG, x), r.sys)
    r.h.send(r.fn.grantApprover(ANY_LOG, y), r.sec)
    for log in (LOG_A, LOG_B, ANY_LOG, keccak(text="any other")):
        assert r.fn.isAnchorer(log, x).call() and r.fn.isApprover(log, y).call()
        assert not r.fn.isApprover(log, x).call() and not r.fn.isAnchorer(log, y).call()
    r.h.send(r.fn.revokeApprover(ANY_LOG, y), r.sec)
    assert not r.fn.isApprover(LOG_A, y).call()


def test_officers_cannot_hold_business_roles(r: Roles):
    officers = {r.sys: SYSTEM_ADMIN, r.sec: SECURITY_ADMIN, r.aud: AUDITOR}
    for who, held in officers.items():
        for log in (LOG_A, ANY_LOG):
            assert r.h.revert(r.fn.grantAnchorer(log, who), r.sys) == (
                "OfficerConflict", (who, held, anchorer_role(log)),
            )  # fmt: skip
            assert r.h.revert(r.fn.grantApprover(log, who), r.sec) == (
                "OfficerConflict", (who, held, approver_role(log)),
            )  # fmt: skip


def test_business_role_holders_cannot_become_officers(r: Roles):
    anchorer, approver = r.others[:2]
    r.h.send(r.fn.grantAnchorer(LOG_A, anchorer), r.sys)
    r.h.send(r.fn.grantApprover(LOG_A, approver), r.sec)
    r.h.send(r.fn.grantApprover(LOG_B, approver), r.sec)
    for who, count in ((anchorer, 1), (approver, 2)):
        for role in (SYSTEM_ADMIN, SECURITY_ADMIN, AUDITOR):
            r.h.send(r.fn.proposeOfficerChange(role, who, True), r.sys if role != SYSTEM_ADMIN else r.sec)
            pid = r.fn.proposalCount().call()
            assert r.h.revert(r.fn.confirmOfficerChange(pid), r.aud) == ("BusinessRoleHolder", (who, count))
    # Once the business roles are gone, the account may become an officer.
    r.h.send(r.fn.revokeApprover(LOG_A, approver), r.sec)
    r.h.send(r.fn.revokeApprover(LOG_B, approver), r.sec)
    assert r.fn.businessRoleCount(approver).call() == 0
    r.officers_change(AUDITOR, approver, True, r.sys, r.sec)
    assert r.fn.officerRoleOf(approver).call() == AUDITOR


# ---------------------------------------------------------------- anchor/deploy.py


def test_deploy_contracts_wires_roles_and_funds_officers(chain_client):  # type: ignore[no-untyped-def]
    from anchor.deploy import deploy_contracts, gas_price

    node_key, sys_key, sec_key, aud_key, anchor_key = (Account.create() for _ in range(5))
    fund_from_dev_account(chain_client, node_key.address, 10**20)
    assert gas_price(chain_client) > 0  # eth-tester charges gas: the officers must be funded
    d = deploy_contracts(
        chain_client, node_key, system_admin=sys_key, security_admin=sec_key, auditor=aud_key,
        anchorer=anchor_key.address,
    )  # fmt: skip
    assert d.contract_address == d.anchor and d.block_number > 0
    roles = chain_client.contract(d.roles, load_artifact("ArchiveRoles")).functions
    anchor = chain_client.contract(d.anchor, load_artifact("ArchiveAnchor")).functions
    permits = chain_client.contract(d.permits, load_artifact("ReadPermits")).functions
    assert anchor.roles().call() == permits.roles().call() == d.roles
    expected = {sys_key: SYSTEM_ADMIN, sec_key: SECURITY_ADMIN, aud_key: AUDITOR, node_key: b"\x00" * 32}
    for acct, role in expected.items():
        assert roles.officerRoleOf(acct.address).call() == role
    assert roles.isAnchorer(keccak(text="any log"), anchor_key.address).call()
    assert not roles.isAnchorer(LOG_A, node_key.address).call()  # the deployer got nothing
    for officer in (sys_key, sec_key, aud_key):
        assert chain_client.balance(officer.address) > 0  # gas money from the deployer
    # A funded officer can act at once (here the security admin names an approver).
    sec = chain_client.send(
        sec_key,
        chain_client.contract(d.roles, load_artifact("ArchiveRoles")).functions.grantApprover(
            LOG_A, anchor_key.address
        ),
    )
    chain_client.wait_confirmed(sec.tx_hash)
    assert roles.isApprover(LOG_A, anchor_key.address).call()
