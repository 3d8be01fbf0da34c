"""Business roles on chain (ArchiveRoles): the node relays an officer's signed role change."""

from __future__ import annotations

from typing import Any

from anchor.chain import ChainClient
from anchor.chain.contracts import ANY_LOG, ArchiveRoles


def set_approver(
    client: ChainClient, roles_address: str, officer: Any, approver: str, *, grant: bool, log_id: bytes = ANY_LOG
) -> str | None:
    """Grant or revoke `approverRole(log_id)`, signed by a SECURITY_ADMIN officer's key; returns the
    confirmed tx hash, or None when the chain already says so (safe to repeat after a crash)."""
    roles = ArchiveRoles(client, roles_address)
    if roles.has_role(roles.approver_role(log_id), approver) == grant:
        return None
    call = roles.grant_approver if grant else roles.revoke_approver
    signed = client.send(officer, call(approver, log_id))
    client.wait_confirmed(signed.tx_hash)
    return signed.tx_hash


def is_approver(client: ChainClient, roles_address: str, account: str, log_id: bytes = ANY_LOG) -> bool:
    return ArchiveRoles(client, roles_address).is_approver(account, log_id)
