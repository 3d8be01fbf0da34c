"""ReadPermits on the in-process chain: permits signed with anchor/eip712.py (the node's own signing
code) are accepted, every forbidden path is refused, and validity follows notBefore / expiresAt."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from anchor import eip712
from anchor.eip712 import Permit
from tests.helpers.evm import ANY_LOG, LOG_A, LOG_B, SECURITY_ADMIN, Harness

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ITEM_1 = keccak(text="item 1 leaf hash")
ITEM_2 = keccak(text="item 2 leaf hash")
GRANTEE = keccak(text="grantee pseudonym 1")
OTHER_GRANTEE = keccak(text="grantee pseudonym 2")
LOAN = keccak(text="loan 1")
DAY = 86_400


@dataclass
class Env:
    h: Harness
    roles: Any
    permits: Any
    sys: LocalAccount
    sec: LocalAccount
    aud: LocalAccount
    approver_a: LocalAccount  # approver of LOG_A
    approver_any: LocalAccount  # approver of ANY_LOG
    approver_b: LocalAccount  # approver of LOG_B
    relayer: LocalAccount
    outsider: LocalAccount

    @property
    def fn(self) -> Any:
        return self.permits.functions

    @property
    def chain_id(self) -> int:
        return self.h.w3.eth.chain_id

    def now(self) -> int:
        return int(self.h.w3.eth.get_block("latest")["timestamp"])

    def permit(self, **kw: Any) -> Permit:
        now = self.now()
        fields = {
            "log_id": LOG_A, "item_key": ITEM_1, "grantee": GRANTEE, "not_before": now,
            "expires_at": now + 14 * DAY, "loan_id": LOAN,
        }  # fmt: skip
        fields.update(kw)
        return Permit(**fields)

    def sign(self, signer: LocalAccount, permit: Permit) -> bytes:
        return eip712.sign_permit(signer, permit, self.chain_id, self.permits.address)

    def sign_revoke(self, signer: LocalAccount, permit_id: bytes) -> bytes:
        return eip712.sign_revoke(signer, permit_id, self.chain_id, self.permits.address)

    def grant(self, permit: Permit, signer: LocalAccount | None = None, signature: bytes | None = None) -> Any:
        sig = signature if signature is not None else self.sign(signer or self.approver_a, permit)
        return self.h.send(self.fn.grant(permit.as_tuple(), sig), self.relayer.address)

    def grant_revert(self, permit: Permit, signer: LocalAccount | None = None, signature: bytes | None = None):
        sig = signature if signature is not None else self.sign(signer or self.approver_a, permit)
        return self.h.revert(self.fn.grant(permit.as_tuple(), sig), self.relayer.address)

    def revoke(self, permit_id: bytes, signer: LocalAccount) -> Any:
        return self.h.send(self.fn.revoke(permit_id, self.sign_revoke(signer, permit_id)), self.relayer.address)

    def revoke_revert(self, permit_id: bytes, signer: LocalAccount) -> tuple[str, tuple]:
        return self.h.revert(self.fn.revoke(permit_id, self.sign_revoke(signer, permit_id)), self.relayer.address)


@pytest.fixture(scope="module")
def permits_env() -> Env:
    h = Harness.create()
    k = h.keys
    deployer = k[9].address
    roles = h.deploy("ArchiveRoles", deployer, k[0].address, k[1].address, k[2].address)
    permits = h.deploy("ReadPermits", deployer, roles.address)
    env = Env(h, roles, permits, k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7])
    h.send(roles.functions.grantApprover(LOG_A, env.approver_a.address), env.sec.address)
    h.send(roles.functions.grantApprover(ANY_LOG, env.approver_any.address), env.sec.address)
    h.send(roles.functions.grantApprover(LOG_B, env.approver_b.address), env.sec.address)
    return env


@pytest.fixture
def env(permits_env: Env):
    snap = permits_env.h.w3.testing.snapshot()
    yield permits_env
    permits_env.h.w3.testing.revert(snap)


# ---------------------------------------------------------------- deployment


def test_constants_and_domain(env: Env):
    fn = env.fn
    assert fn.permitVersion().call() == "archive-ledger/ReadPermits/1"
    assert fn.roles().call() == env.roles.address
    assert fn.PERMIT_TYPEHASH().call() == eip712.PERMIT_TYPEHASH
    assert fn.REVOKE_TYPEHASH().call() == eip712.REVOKE_TYPEHASH
    assert fn.domainSeparator().call() == eip712.domain_separator(env.chain_id, env.permits.address)
    fields, name, version, chain_id, contract, salt, extensions = fn.eip712Domain().call()
    assert (fields, name, version, chain_id, contract, salt, extensions) == (
        b"\x0f", "ArchiveLedger ReadPermits", "1", env.chain_id, env.permits.address, b"\x00" * 32, [],
    )  # fmt: skip
    # The contract's private SECURITY_ADMIN constant is the roles contract's role.
    assert env.roles.functions.SECURITY_ADMIN_ROLE().call() == SECURITY_ADMIN


def test_constructor_requires_a_roles_contract(env: Env):
    assert env.h.deploy_revert("ReadPermits", env.outsider.address) == ("RolesNotAContract", (env.outsider.address,))


# ---------------------------------------------------------------- grant


def test_grant_by_approver(env: Env):
    p = env.permit()
    pid = eip712.permit_id(p)
    assert env.fn.permitIdOf(p.as_tuple()).call() == pid
    receipt = env.grant(p)
    assert env.h.events(env.permits, "PermitGranted", receipt) == [
        {
            "permitId": pid, "logId": LOG_A, "itemKey": ITEM_1, "grantee": GRANTEE,
            "approver": env.approver_a.address, "notBefore": p.not_before, "expiresAt": p.expires_at, "loanId": LOAN,
        }
    ]  # fmt: skip
    # Indexed topics: permitId, logId, grantee (filters per permit, per fonds, per borrower).
    assert receipt.logs[0].topics[1:] == [pid, LOG_A, GRANTEE]
    permit, approver, revoked = env.fn.getPermit(pid).call()
    assert Permit.from_tuple(permit) == p
    assert (approver, revoked) == (env.approver_a.address, False)
    assert env.fn.permitsOf(GRANTEE, ITEM_1).call() == [pid]
    assert env.fn.permitsOf(GRANTEE, ITEM_2).call() == []
    assert env.fn.permitsOf(OTHER_GRANTEE, ITEM_1).call() == []
    assert env.fn.isValid(pid, env.now()).call()


def test_identical_regrant_is_a_no_op(env: Env):
    p = env.permit()
    env.grant(p)
    receipt = env.grant(p)  # a re-sent relay: no event, no second index entry
    assert env.h.events(env.permits, "PermitGranted", receipt) == []
    assert env.fn.permitsOf(GRANTEE, ITEM_1).call() == [eip712.permit_id(p)]
    # Another approver's signature over the same permit changes nothing either.
    env.grant(p, env.approver_any)
    assert env.fn.getPermit(eip712.permit_id(p)).call()[1] == env.approver_a.address


def test_grant_by_non_approver_refused(env: Env):
    p = env.permit()
    for signer in (env.outsider, env.relayer, env.sys, env.sec, env.aud):
        assert env.grant_revert(p, signer) == ("NotApprover", (LOG_A, signer.address))
    assert env.fn.permitsOf(GRANTEE, ITEM_1).call() == []


def test_approver_of_another_log_refused(env: Env):
    p = env.permit()
    assert env.grant_revert(p, env.approver_b) == ("NotApprover", (LOG_A, env.approver_b.address))
    env.grant(env.permit(log_id=LOG_B), env.approver_b)  # its own log is fine


def test_any_log_approver_accepted(env: Env):
    for log in (LOG_A, LOG_B, keccak(text="another fonds")):
        p = env.permit(log_id=log)
        env.grant(p, env.approver_any)
        assert env.fn.getPermit(eip712.permit_id(p)).call()[1] == env.approver_any.address


def test_revoked_approver_role_refused_for_new_permits_but_old_ones_stay(env: Env):
    old = env.permit()
    env.grant(old)
    env.h.send(env.roles.functions.revokeApprover(LOG_A, env.approver_a.address), env.sec.address)
    assert env.grant_revert(env.permit(item_key=ITEM_2)) == ("NotApprover", (LOG_A, env.approver_a.address))
    # Documented: existing permits are not invalidated by a later role change (revoke them explicitly).
    assert env.fn.isValid(eip712.permit_id(old), env.now()).call()
    env.revoke(eip712.permit_id(old), env.approver_a)  # ...and their approver may still withdraw them
    assert not env.fn.isValid(eip712.permit_id(old), env.now()).call()


def test_tampered_field_or_signature_refused(env: Env):
    p = env.permit()
    sig = env.sign(env.approver_a, p)
    tampered = [
        replace(p, item_key=ITEM_2), replace(p, grantee=OTHER_GRANTEE), replace(p, expires_at=p.expires_at + DAY),
        replace(p, not_before=p.not_before - DAY), replace(p, loan_id=keccak(text="loan 2")),
        replace(p, log_id=LOG_B),
    ]  # fmt: skip
    for bad in tampered:
        name, args = env.grant_revert(bad, signature=sig)
        # The signature recovers to some unrelated address, which is no approver.
        assert name == "NotApprover" and args[1] != env.approver_a.address
    flipped = bytearray(sig)
    flipped[10] ^= 0x01
    name, args = env.grant_revert(p, signature=bytes(flipped))
    assert name in ("NotApprover", "InvalidSignature") and (
        name == "InvalidSignature" or args[1] != env.approver_a.address
    )
    for malformed in (b"", sig[:64], sig + b"\x00", sig[:64] + b"\x05"):
        assert env.grant_revert(p, signature=malformed) == ("InvalidSignature", ())
    # High-s form of the same signature (malleability) is refused.
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    r_, s_, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    high = r_ + (n - s_).to_bytes(32, "big") + bytes([55 - v])
    assert env.grant_revert(p, signature=high) == ("InvalidSignature", ())
    # A signature for another ReadPermits deployment (other verifyingContract) does not transfer.
    other = eip712.sign_permit(env.approver_a, p, env.chain_id, env.roles.address)
    assert env.grant_revert(p, signature=other)[0] == "NotApprover"
    other_chain = eip712.sign_permit(env.approver_a, p, env.chain_id + 1, env.permits.address)
    assert env.grant_revert(p, signature=other_chain)[0] == "NotApprover"
    env.grant(p, signature=sig)  # the untouched original goes through


def test_invalid_period_and_expired_refused(env: Env):
    now = env.now()
    for nb, exp in ((now, now), (now + 10, now + 5)):
        p = env.permit(not_before=nb, expires_at=exp)
        assert env.grant_revert(p) == ("InvalidPeriod", (nb, exp))
    for exp in (now - 1, 1):
        p = env.permit(not_before=0, expires_at=exp)
        name, args = env.grant_revert(p)
        assert name == "AlreadyExpired" and args[0] == exp and args[1] >= now
    env.grant(env.permit(not_before=0, expires_at=now + 100))  # notBefore in the past is fine


def test_expiry_by_time_travel(env: Env):
    start = env.now()
    p = env.permit(not_before=start + DAY, expires_at=start + 2 * DAY)
    env.grant(p)  # granted before it starts: valid only from notBefore
    pid = eip712.permit_id(p)
    tester = env.h.w3.provider.ethereum_tester

    def valid_now() -> bool:
        return env.fn.isValid(pid, env.now()).call()

    assert not valid_now()
    # time_travel mines a block near the given timestamp; check validity against the actual block time.
    for target, expected in ((start + DAY + 10, True), (start + 2 * DAY - 10, True), (start + 2 * DAY + 10, False)):
        tester.time_travel(target)
        assert abs(env.now() - target) <= 2
        assert valid_now() is expected, target
    # Once its expiry has passed, the same permit can no longer be granted anew.
    late = replace(p, loan_id=keccak(text="late"))
    name, args = env.grant_revert(late)
    assert name == "AlreadyExpired" and args[0] == p.expires_at and args[1] >= p.expires_at


def test_is_valid_boundaries(env: Env):
    now = env.now()
    p = env.permit(not_before=now + 100, expires_at=now + 200)
    pid = eip712.permit_id(p)
    assert not env.fn.isValid(pid, now + 150).call()  # not granted yet
    env.grant(p)
    expected = {0: False, now + 99: False, now + 100: True, now + 150: True, now + 199: True, now + 200: False}
    for at, ok in expected.items():
        assert env.fn.isValid(pid, at).call() is ok, at
    assert not env.fn.isValid(b"\x01" * 32, now + 150).call()


def test_unknown_permit_views(env: Env):
    permit, approver, revoked = env.fn.getPermit(b"\x02" * 32).call()
    assert approver == "0x" + "00" * 20 and not revoked and tuple(permit)[3:5] == (0, 0)


def test_permits_of_lists_every_permit_of_grantee_and_item(env: Env):
    now = env.now()
    a = env.permit()
    b = env.permit(loan_id=keccak(text="loan 2"), expires_at=now + 30 * DAY)
    c = env.permit(item_key=ITEM_2)
    d = env.permit(grantee=OTHER_GRANTEE)
    for p in (a, b, c, d):
        env.grant(p)
    env.revoke(eip712.permit_id(a), env.approver_a)
    ids = env.fn.permitsOf(GRANTEE, ITEM_1).call()
    assert ids == [eip712.permit_id(a), eip712.permit_id(b)]  # revoked ones stay listed, oldest first
    assert [env.fn.isValid(i, now + 1).call() for i in ids] == [False, True]
    assert env.fn.permitsOf(GRANTEE, ITEM_2).call() == [eip712.permit_id(c)]
    assert env.fn.permitsOf(OTHER_GRANTEE, ITEM_1).call() == [eip712.permit_id(d)]


# ---------------------------------------------------------------- revoke


def test_revoke_by_approver(env: Env):
    p = env.permit()
    env.grant(p)
    pid = eip712.permit_id(p)
    receipt = env.revoke(pid, env.approver_a)
    assert env.h.events(env.permits, "PermitRevoked", receipt) == [
        {"permitId": pid, "revokedBy": env.approver_a.address}
    ]
    assert tuple(env.fn.getPermit(pid).call()[1:]) == (env.approver_a.address, True)
    assert not env.fn.isValid(pid, env.now()).call()
    # Revoking again is a no-op (no event); re-granting does not revive it.
    assert env.h.events(env.permits, "PermitRevoked", env.revoke(pid, env.approver_a)) == []
    assert env.h.events(env.permits, "PermitGranted", env.grant(p)) == []
    assert not env.fn.isValid(pid, env.now()).call()


def test_revoke_by_security_admin(env: Env):
    p = env.permit()
    env.grant(p)
    pid = eip712.permit_id(p)
    receipt = env.revoke(pid, env.sec)
    assert env.h.events(env.permits, "PermitRevoked", receipt) == [{"permitId": pid, "revokedBy": env.sec.address}]
    assert not env.fn.isValid(pid, env.now()).call()


def test_revoke_by_others_refused(env: Env):
    p = env.permit()
    env.grant(p)
    pid = eip712.permit_id(p)
    # Another approver (even of ANY_LOG), the other officers, the relayer, outsiders: refused.
    for signer in (env.approver_any, env.approver_b, env.sys, env.aud, env.relayer, env.outsider):
        assert env.revoke_revert(pid, signer) == ("NotAllowedToRevoke", (pid, signer.address))
    assert env.fn.isValid(pid, env.now()).call()
    # A revoke signature is bound to its permit: a signature for another id does not work here.
    other_sig = env.sign_revoke(env.approver_a, b"\x03" * 32)
    assert env.h.revert(env.fn.revoke(pid, other_sig), env.relayer.address)[0] == "NotAllowedToRevoke"
    for malformed in (b"", b"\x00" * 65):
        assert env.h.revert(env.fn.revoke(pid, malformed), env.relayer.address) == ("InvalidSignature", ())


def test_revoke_unknown_permit(env: Env):
    pid = b"\x04" * 32
    assert env.revoke_revert(pid, env.sec) == ("UnknownPermit", (pid,))


def test_sender_does_not_matter_only_the_signature(env: Env):
    """Relayed: the approver need not send the transaction, and a sender's own roles grant nothing."""
    p = env.permit()
    sig = env.sign(env.approver_a, p)
    env.h.send(env.fn.grant(p.as_tuple(), sig), env.outsider.address)
    pid = eip712.permit_id(p)
    # The security admin *sending* a revocation signed by an outsider is still refused.
    bad = env.sign_revoke(env.outsider, pid)
    assert env.h.revert(env.fn.revoke(pid, bad), env.sec.address) == ("NotAllowedToRevoke", (pid, env.outsider.address))
