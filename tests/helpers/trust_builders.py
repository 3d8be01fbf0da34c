"""Build and sign trust root documents in tests (eth-account officers, an Ed25519 verifier key)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import nacl.signing
from eth_account import Account
from eth_account.messages import encode_defunct

from verifier.records import log_id_for_fonds
from verifier.trustroot import (
    assemble,
    officer_signature,
    signing_message,
    trust_root_sha256,
    verifier_signature,
)

ROLES = ("system_admin", "security_admin", "security_auditor")
GENESIS = "0x" + "11" * 32


def sign_as_officer(account: Any, role: str, body: dict) -> dict:
    message = signing_message(trust_root_sha256(body))
    signature = bytes(account.sign_message(encode_defunct(primitive=message)).signature).hex()
    return officer_signature(role, account.address, signature)


@dataclass
class TrustKit:
    """Keys and a body template; `document()` signs a body with the chosen signers."""

    officers: dict[str, Any] = field(default_factory=lambda: {r: Account.create() for r in ROLES})
    verifier_key: nacl.signing.SigningKey = field(default_factory=nacl.signing.SigningKey.generate)

    def body(self, **changes: Any) -> dict:
        body: dict[str, Any] = {
            "type": "archive-ledger/trust-root",
            "version": 1,
            "previous_sha256": None,
            "issued_at": "2026-11-29T17:00:00Z",
            "archive": {"name": "Port Group Archive"},
            "fonds": [{"code": "Z001", "log_id": log_id_for_fonds("Z001").hex(), "audit_log_id": "ab" * 32}],
            "chain": {
                "chain_id": 1337,
                "genesis_hash": GENESIS,
                "confirmations": 1,
                "rpc_endpoints": ["http://127.0.0.1:8545"],
            },
            "contracts": {
                "ArchiveAnchor": {"address": "0x" + "aa" * 20, "deployed_block": 3},
                "ArchiveRoles": {"address": "0x" + "bb" * 20, "deployed_block": 2},
                "ReadPermits": {"address": "0x" + "cc" * 20, "deployed_block": 4},
            },
            "verifier_keys": [
                {
                    "public_key": bytes(self.verifier_key.verify_key).hex(),
                    "valid_from": "2026-01-01T00:00:00Z",
                    "valid_until": None,
                }
            ],
            "officers": [{"role": r, "address": a.address.lower()} for r, a in self.officers.items()],
            "threshold": 2,
        }
        for key, value in changes.items():
            if key in body["chain"]:
                body["chain"][key] = value
            else:
                body[key] = value
        return copy.deepcopy(body)

    def document(
        self,
        body: dict | None = None,
        *,
        officers: tuple[str, ...] = ROLES,
        accounts: dict[str, Any] | None = None,
        verifier: nacl.signing.SigningKey | bool | None = True,
    ) -> dict:
        body = self.body() if body is None else body
        sigs: list[dict] = []
        if verifier is True:
            sigs.append(verifier_signature(body, self.verifier_key))
        elif verifier:
            sigs.append(verifier_signature(body, verifier))
        pool = accounts or self.officers
        sigs += [sign_as_officer(pool[role], role, body) for role in officers]
        return assemble(body, sigs)
