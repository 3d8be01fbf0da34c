"""A fake ReadPermits for the lending tests: permits in a dict, one block per transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from anchor.eip712 import Permit
from anchor.errors import ChainUnavailable
from node.lending.permits import Relayed


@dataclass
class FakePermits:
    """Mimics the contract: grant is a no-op for an identical permit; isValid(permitId, at)."""

    block: int = 1
    permits: dict[bytes, Permit] = field(default_factory=dict)
    revoked: set[bytes] = field(default_factory=set)
    calls: dict[str, int] = field(default_factory=lambda: {"block_number": 0, "is_valid": 0})
    down: bool = False

    def _mine(self) -> int:
        self.block += 1
        return self.block

    def block_number(self) -> int:
        if self.down:
            raise ChainUnavailable("fake chain is down")
        self.calls["block_number"] += 1
        return self.block

    def permit_id(self, permit: Permit) -> bytes:
        return hashlib.sha256(repr(permit.as_tuple()).encode()).digest()

    def sign_permit(self, account: Any, permit: Permit) -> bytes:
        return hashlib.sha256(b"sig" + account.address.encode() + self.permit_id(permit)).digest() * 2 + b"\x1b"

    def sign_revoke(self, account: Any, permit_id: bytes) -> bytes:
        return hashlib.sha256(b"rev" + account.address.encode() + permit_id).digest() * 2 + b"\x1b"

    def is_valid(self, permit_id: bytes, at: int, block: int | str = "latest") -> bool:
        if self.down:
            raise ChainUnavailable("fake chain is down")
        self.calls["is_valid"] += 1
        p = self.permits.get(permit_id)
        return p is not None and permit_id not in self.revoked and p.not_before <= at < p.expires_at

    def grant_many(self, grants: Sequence[tuple[Permit, bytes]]) -> list[Relayed]:
        if self.down:
            raise ChainUnavailable("fake chain is down")
        out = []
        for permit, _sig in grants:
            self.permits[self.permit_id(permit)] = permit
            out.append(Relayed("0x" + hashlib.sha256(self.permit_id(permit)).hexdigest(), self._mine()))
        return out

    def revoke(self, permit_id: bytes, signature: bytes) -> Relayed:
        if self.down:
            raise ChainUnavailable("fake chain is down")
        self.revoked.add(permit_id)
        return Relayed("0x" + hashlib.sha256(b"r" + permit_id).hexdigest(), self._mine())

    def get_permit(self, permit_id: bytes) -> dict[str, Any]:
        p = self.permits[permit_id]
        return {**p.to_dict(), "revoked": permit_id in self.revoked}


@dataclass(frozen=True)
class Who:
    """A principal as the lending code sees it."""

    id: str
    actions: frozenset[str]


BORROWER = frozenset({"loans:request", "items:read"})
APPROVER = frozenset({"loans:decide", "loans:revoke", "loans:read", "items:read"})
SECURITY_ADMIN = frozenset({"loans:revoke", "loans:read", "items:read", "roles:grant"})  # as node/core/roles.py
