"""anchor/eip712.py, the node's side of ReadPermits' typed data. Pure checks here; the contract itself
accepts these signatures and ids in tests/contracts/test_contracts_permits.py (and one check below on chain)."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import keccak

from anchor import eip712
from anchor.eip712 import Permit

CHAIN_ID = 1337
CONTRACT = "0x" + "ab" * 20
KEY = "0x" + "11" * 32


def make_permit(**kw) -> Permit:
    fields = {
        "log_id": b"\x01" * 32, "item_key": b"\x02" * 32, "grantee": b"\x03" * 32,
        "not_before": 1_800_000_000, "expires_at": 1_800_086_400, "loan_id": b"\x04" * 32,
    }  # fmt: skip
    fields.update(kw)
    return Permit(**fields)


PERMIT_TYPE = "Permit(bytes32 logId,bytes32 itemKey,bytes32 grantee,uint64 notBefore,uint64 expiresAt,bytes32 loanId)"


def test_type_hashes():
    assert keccak(text=PERMIT_TYPE) == eip712.PERMIT_TYPEHASH
    assert keccak(text="Revoke(bytes32 permitId)") == eip712.REVOKE_TYPEHASH


def test_typed_data_shape():
    p = make_permit()
    data = eip712.permit_typed_data(p, CHAIN_ID, CONTRACT)
    assert data["primaryType"] == "Permit"
    assert data["domain"] == {
        "name": "ArchiveLedger ReadPermits", "version": "1", "chainId": 1337,
        "verifyingContract": "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB",
    }  # fmt: skip
    assert [f["name"] for f in data["types"]["Permit"]] == [
        "logId", "itemKey", "grantee", "notBefore", "expiresAt", "loanId",
    ]  # fmt: skip
    assert data["message"]["notBefore"] == p.not_before and data["message"]["logId"] == p.log_id
    revoke = eip712.revoke_typed_data(b"\x05" * 32, CHAIN_ID, CONTRACT)
    assert revoke["primaryType"] == "Revoke" and revoke["message"] == {"permitId": b"\x05" * 32}


def test_our_encoding_equals_eth_account():
    p = make_permit()
    signable = encode_typed_data(full_message=eip712.permit_typed_data(p, CHAIN_ID, CONTRACT))
    assert signable.header == eip712.domain_separator(CHAIN_ID, CONTRACT)
    assert signable.body == eip712.permit_id(p)
    assert _hash_eip191_message(signable) == eip712.permit_digest(p, CHAIN_ID, CONTRACT)
    pid = eip712.permit_id(p)
    signable = encode_typed_data(full_message=eip712.revoke_typed_data(pid, CHAIN_ID, CONTRACT))
    assert signable.body == eip712.revoke_struct_hash(pid)
    assert _hash_eip191_message(signable) == eip712.revoke_digest(pid, CHAIN_ID, CONTRACT)


def test_permit_id_is_the_struct_hash_and_independent_of_domain():
    p = make_permit()
    expected = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "bytes32", "uint64", "uint64", "bytes32"],
            [eip712.PERMIT_TYPEHASH, p.log_id, p.item_key, p.grantee, p.not_before, p.expires_at, p.loan_id],
        )
    )
    assert eip712.permit_id(p) == expected
    # Every field is part of the id; the digest also binds chain and contract.
    variants = [
        make_permit(log_id=b"\x09" * 32), make_permit(item_key=b"\x09" * 32), make_permit(grantee=b"\x09" * 32),
        make_permit(not_before=1), make_permit(expires_at=2**64 - 1), make_permit(loan_id=b"\x09" * 32),
    ]  # fmt: skip
    assert len({eip712.permit_id(v) for v in [p, *variants]}) == 7
    d = eip712.permit_digest(p, CHAIN_ID, CONTRACT)
    assert d != eip712.permit_digest(p, CHAIN_ID + 1, CONTRACT)
    assert d != eip712.permit_digest(p, CHAIN_ID, "0x" + "cd" * 20)


def test_sign_and_recover():
    acct = Account.from_key(KEY)
    p = make_permit()
    sig = eip712.sign_permit(acct, p, CHAIN_ID, CONTRACT)
    assert len(sig) == 65
    assert eip712.recover_permit_signer(p, sig, CHAIN_ID, CONTRACT) == acct.address
    assert eip712.recover_permit_signer(make_permit(not_before=1), sig, CHAIN_ID, CONTRACT) != acct.address
    assert eip712.recover_permit_signer(p, sig, CHAIN_ID + 1, CONTRACT) != acct.address
    # Same bytes as eth-account's one-call API (what a wallet's eth_signTypedData_v4 produces).
    full = eip712.permit_typed_data(p, CHAIN_ID, CONTRACT)
    assert bytes(Account.sign_typed_data(KEY, full_message=full).signature) == sig
    pid = eip712.permit_id(p)
    rsig = eip712.sign_revoke(acct, pid, CHAIN_ID, CONTRACT)
    assert eip712.recover_revoke_signer(pid, rsig, CHAIN_ID, CONTRACT) == acct.address
    assert eip712.recover_revoke_signer(pid.hex(), rsig, CHAIN_ID, CONTRACT) == acct.address


def test_field_validation():
    assert make_permit(log_id="0x" + "01" * 32) == make_permit()
    assert make_permit(log_id="01" * 32).log_id == b"\x01" * 32
    for bad in ({"log_id": b"\x01" * 31}, {"grantee": "zz" * 32}, {"loan_id": 5}):
        with pytest.raises(ValueError):
            make_permit(**bad)
    for bad in ({"not_before": -1}, {"expires_at": 2**64}, {"not_before": True}, {"expires_at": 1.5}):
        with pytest.raises(ValueError):
            make_permit(**bad)
    with pytest.raises(ValueError):
        eip712.revoke_typed_data(b"\x00" * 5, CHAIN_ID, CONTRACT)


def test_round_trip_through_contract_tuple():
    p = make_permit()
    assert Permit.from_tuple(list(p.as_tuple())) == p


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_contract_agrees_on_chain():
    """The deployed contract computes the same id and domain separator as this module."""
    from tests.helpers.evm import Harness

    h = Harness.create()
    a = h.w3.eth.accounts
    roles = h.deploy("ArchiveRoles", a[9], a[0], a[1], a[2])
    permits = h.deploy("ReadPermits", a[9], roles.address)
    p = make_permit()
    assert permits.functions.permitIdOf(p.as_tuple()).call() == eip712.permit_id(p)
    chain_id = h.w3.eth.chain_id
    assert permits.functions.domainSeparator().call() == eip712.domain_separator(chain_id, permits.address)
