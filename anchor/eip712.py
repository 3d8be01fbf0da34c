"""The Python side of ReadPermits' EIP-712 typed data (pure: no I/O, no chain access).

Domain: ``{name: "ArchiveLedger ReadPermits", version: "1", chainId, verifyingContract}``.
Types: ``Permit(bytes32 logId,bytes32 itemKey,bytes32 grantee,uint64 notBefore,uint64 expiresAt,bytes32 loanId)``
and ``Revoke(bytes32 permitId)``. The permit id is the EIP-712 struct hash of the Permit, computed here
with keccak over the ABI encoding exactly as the contract does; the signed digest is
``keccak256(0x1901 || domainSeparator || structHash)``. Signing uses eth-account (``encode_typed_data``
+ ``sign_message``), so what an approver signs in a wallet and what this module signs are the same
bytes; `tests/anchor/test_eip712.py` checks both against the deployed contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_account.messages import SignableMessage, _hash_eip191_message, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

DOMAIN_NAME = "ArchiveLedger ReadPermits"
DOMAIN_VERSION = "1"

EIP712_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
PERMIT_FIELDS = [
    {"name": "logId", "type": "bytes32"},
    {"name": "itemKey", "type": "bytes32"},
    {"name": "grantee", "type": "bytes32"},
    {"name": "notBefore", "type": "uint64"},
    {"name": "expiresAt", "type": "uint64"},
    {"name": "loanId", "type": "bytes32"},
]
REVOKE_FIELDS = [{"name": "permitId", "type": "bytes32"}]


def _type_string(name: str, fields: list[dict[str, str]]) -> str:
    return f"{name}({','.join(f['type'] + ' ' + f['name'] for f in fields)})"


DOMAIN_TYPEHASH = keccak(text=_type_string("EIP712Domain", EIP712_DOMAIN_FIELDS))
PERMIT_TYPEHASH = keccak(text=_type_string("Permit", PERMIT_FIELDS))
REVOKE_TYPEHASH = keccak(text=_type_string("Revoke", REVOKE_FIELDS))
UINT64_MAX = 2**64 - 1


def _bytes32(value: bytes | str, what: str) -> bytes:
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value.removeprefix("0x"))
        except ValueError as e:
            raise ValueError(f"{what} is not hex: {value!r}") from e
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes")
    return bytes(value)


def _uint64(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT64_MAX:
        raise ValueError(f"{what} must be an integer in [0, 2**64)")
    return value


@dataclass(frozen=True)
class Permit:
    """One read permit. Times are Unix seconds; valid for ``not_before <= t < expires_at``.
    bytes32 fields accept bytes or hex (with or without 0x) and are stored as bytes."""

    log_id: bytes
    item_key: bytes
    grantee: bytes
    not_before: int
    expires_at: int
    loan_id: bytes

    def __post_init__(self) -> None:
        for name in ("log_id", "item_key", "grantee", "loan_id"):
            object.__setattr__(self, name, _bytes32(getattr(self, name), name))
        _uint64(self.not_before, "not_before")
        _uint64(self.expires_at, "expires_at")

    def as_tuple(self) -> tuple[bytes, bytes, bytes, int, int, bytes]:
        """The Solidity struct as web3 wants it for `grant(Permit, bytes)`."""
        return (self.log_id, self.item_key, self.grantee, self.not_before, self.expires_at, self.loan_id)

    def as_message(self) -> dict[str, Any]:
        """The typed-data `message` object (field names as in the contract)."""
        return {
            "logId": self.log_id,
            "itemKey": self.item_key,
            "grantee": self.grantee,
            "notBefore": self.not_before,
            "expiresAt": self.expires_at,
            "loanId": self.loan_id,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON view (hex without 0x), as the node's API shows it."""
        return {
            "log_id": self.log_id.hex(),
            "item_key": self.item_key.hex(),
            "grantee": self.grantee.hex(),
            "not_before": self.not_before,
            "expires_at": self.expires_at,
            "loan_id": self.loan_id.hex(),
        }

    @classmethod
    def from_tuple(cls, t: Any) -> Permit:
        """From the contract's return value (`getPermit(...)[0]`)."""
        return cls(bytes(t[0]), bytes(t[1]), bytes(t[2]), int(t[3]), int(t[4]), bytes(t[5]))


def domain(chain_id: int, contract: str) -> dict[str, Any]:
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": int(chain_id),
        "verifyingContract": to_checksum_address(contract),
    }


def permit_typed_data(permit: Permit, chain_id: int, contract: str) -> dict[str, Any]:
    """The full EIP-712 typed-data dict (as for `eth_signTypedData_v4`) of a Permit."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_FIELDS, "Permit": PERMIT_FIELDS},
        "primaryType": "Permit",
        "domain": domain(chain_id, contract),
        "message": permit.as_message(),
    }


def revoke_typed_data(permit_id: bytes | str, chain_id: int, contract: str) -> dict[str, Any]:
    """The full EIP-712 typed-data dict of `Revoke(permitId)`."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_FIELDS, "Revoke": REVOKE_FIELDS},
        "primaryType": "Revoke",
        "domain": domain(chain_id, contract),
        "message": {"permitId": _bytes32(permit_id, "permit_id")},
    }


def domain_separator(chain_id: int, contract: str) -> bytes:
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                DOMAIN_TYPEHASH,
                keccak(text=DOMAIN_NAME),
                keccak(text=DOMAIN_VERSION),
                int(chain_id),
                to_checksum_address(contract),
            ],
        )
    )


def permit_id(permit: Permit) -> bytes:
    """hashStruct(Permit): the permit's id on chain (independent of chain and contract)."""
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "bytes32", "uint64", "uint64", "bytes32"],
            [PERMIT_TYPEHASH, *permit.as_tuple()],
        )
    )


def revoke_struct_hash(permit_id_: bytes | str) -> bytes:
    return keccak(encode(["bytes32", "bytes32"], [REVOKE_TYPEHASH, _bytes32(permit_id_, "permit_id")]))


def _digest(struct_hash: bytes, chain_id: int, contract: str) -> bytes:
    return keccak(b"\x19\x01" + domain_separator(chain_id, contract) + struct_hash)


def permit_digest(permit: Permit, chain_id: int, contract: str) -> bytes:
    """The 32 bytes an approver's key signs for `permit`."""
    return _digest(permit_id(permit), chain_id, contract)


def revoke_digest(permit_id_: bytes | str, chain_id: int, contract: str) -> bytes:
    return _digest(revoke_struct_hash(permit_id_), chain_id, contract)


def signable_permit(permit: Permit, chain_id: int, contract: str) -> SignableMessage:
    return encode_typed_data(full_message=permit_typed_data(permit, chain_id, contract))


def signable_revoke(permit_id_: bytes | str, chain_id: int, contract: str) -> SignableMessage:
    return encode_typed_data(full_message=revoke_typed_data(permit_id_, chain_id, contract))


def _sign(account: LocalAccount, signable: SignableMessage, expected_digest: bytes) -> bytes:
    # Belt and braces: eth-account's encoder and ours must agree on what is signed.
    if _hash_eip191_message(signable) != expected_digest:
        raise AssertionError("eth-account's EIP-712 digest differs from ReadPermits' encoding")
    return bytes(account.sign_message(signable).signature)


def sign_permit(account: LocalAccount, permit: Permit, chain_id: int, contract: str) -> bytes:
    """65-byte signature (r || s || v) of `permit` by `account`, for `grant(permit, signature)`."""
    return _sign(account, signable_permit(permit, chain_id, contract), permit_digest(permit, chain_id, contract))


def sign_revoke(account: LocalAccount, permit_id_: bytes | str, chain_id: int, contract: str) -> bytes:
    """65-byte signature of `Revoke(permit_id)` by `account`, for `revoke(permitId, signature)`."""
    return _sign(
        account, signable_revoke(permit_id_, chain_id, contract), revoke_digest(permit_id_, chain_id, contract)
    )


def recover_permit_signer(permit: Permit, signature: bytes, chain_id: int, contract: str) -> str:
    """Checksummed address that signed `permit` (what the contract recovers)."""
    return Account.recover_message(signable_permit(permit, chain_id, contract), signature=signature)


def recover_revoke_signer(permit_id_: bytes | str, signature: bytes, chain_id: int, contract: str) -> str:
    return Account.recover_message(signable_revoke(permit_id_, chain_id, contract), signature=signature)


__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "PERMIT_TYPEHASH",
    "REVOKE_TYPEHASH",
    "Permit",
    "domain",
    "domain_separator",
    "permit_digest",
    "permit_id",
    "permit_typed_data",
    "recover_permit_signer",
    "recover_revoke_signer",
    "revoke_digest",
    "revoke_struct_hash",
    "revoke_typed_data",
    "sign_permit",
    "sign_revoke",
    "signable_permit",
    "signable_revoke",
]
