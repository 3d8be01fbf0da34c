"""Business roles on chain (ArchiveRoles): the node relays an officer's signed role change."""

from __future__ import annotations

from typing import Any

from anchor.chain import ChainClient
from anchor.deploy import ANY_LOG
from contracts import load_artifact


def set_approver(
    client: ChainClient, roles_address: str, officer: Any, approver: str, *, grant: bool, log_id: bytes = ANY_LOG
) -> str | None:
    """Grant or revoke `approverRole(log_id)`, signed by a SECURITY_ADMIN officer's key; returns the
    confirmed tx hash, or None when the chain already says so (safe to repeat after a crash)."""
    roles = client.contract(roles_address, load_artifact("ArchiveRoles"))
    if bool(roles.functions.hasRole(roles.functions.approverRole(log_id).call(), approver).call()) == grant:
        return None
    call = roles.functions.grantApprover if grant else roles.functions.revokeApprover
    signed = client.send(officer, call(log_id, approver))
    client.wait_confirmed(signed.tx_hash)
    return signed.tx_hash


def is_approver(client: ChainClient, roles_address: str, account: str, log_id: bytes = ANY_LOG) -> bool:
    roles = client.contract(roles_address, load_artifact("ArchiveRoles"))
    return bool(roles.functions.isApprover(log_id, account).call())
