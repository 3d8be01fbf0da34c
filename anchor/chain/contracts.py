"""Contract wrappers: the one place that knows the ArchiveAnchor, ArchiveRoles and ReadPermits calls.

Each wrapper binds a deployed contract to a `ChainClient`, so every read goes through `client.call`
(reverts decoded, network failures as `ChainUnavailable`) and every write is a contract function
the client signs and nonces. ``.contract`` is the web3 contract object, for what has no wrapper yet
(events, tests that read counters).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from eth_utils import to_checksum_address

from anchor.chain.client import ChainClient
from anchor.chain.transport import http_web3, translate_errors
from anchor.profiles import ChainProfile
from contracts import load_artifact

ANY_LOG = b"\x00" * 32  # the role scope "every log" (ArchiveRoles)


class _Wrapper:
    name = ""

    def __init__(self, client: ChainClient, address: str) -> None:
        self.client = client
        self.artifact = load_artifact(self.name)
        self.contract = client.contract(address, self.artifact)
        self.address: str = self.contract.address

    @property
    def abi(self) -> list[dict[str, Any]]:
        return list(self.contract.abi)

    @property
    def functions(self) -> Any:
        return self.contract.functions

    @property
    def events(self) -> Any:
        return self.contract.events


class ArchiveAnchor(_Wrapper):
    """Checkpoints of each log: the head (`latest`), roots by size, the blocks that anchored them."""

    name = "ArchiveAnchor"

    def latest(self, log_id: bytes, block: int | str = "latest") -> tuple[int, bytes, int]:
        """(tree size, root, block number) of the log's newest checkpoint; (0, zero root, 0) if none."""
        size, root, at = self.client.call(self.functions.latest(log_id), block)
        return int(size), bytes(root), int(at)

    def root_at(self, log_id: bytes, tree_size: int, block: int | str = "latest") -> bytes:
        return bytes(self.client.call(self.functions.rootAt(log_id, tree_size), block))

    def anchored_at_block(self, log_id: bytes, tree_size: int) -> int:
        return int(self.client.call(self.functions.anchoredAtBlock(log_id, tree_size)))

    def anchor_many(self, inputs: Sequence[Any]) -> Any:
        """The anchorMany call (to sign with `ChainClient.prepare`)."""
        return self.functions.anchorMany(list(inputs))

    def checkpoint_events(self, log_id: bytes, tree_size: int, from_block: int, to_block: int) -> list[Any]:
        """CheckpointAnchored logs of (log, size) in a block range."""
        return self.client.events(
            self.events.CheckpointAnchored(), from_block, to_block, {"logId": log_id, "treeSize": tree_size}
        )


class ArchiveRoles(_Wrapper):
    """Roles per log: anchorers (node keys), approvers (people who sign read permits)."""

    name = "ArchiveRoles"

    def approver_role(self, log_id: bytes = ANY_LOG) -> bytes:
        return bytes(self.client.call(self.functions.approverRole(log_id)))

    def has_role(self, role: bytes, account: str) -> bool:
        return bool(self.client.call(self.functions.hasRole(role, to_checksum_address(account))))

    def is_approver(self, account: str, log_id: bytes = ANY_LOG) -> bool:
        return bool(self.client.call(self.functions.isApprover(log_id, to_checksum_address(account))))

    def grant_approver(self, approver: str, log_id: bytes = ANY_LOG) -> Any:
        return self.functions.grantApprover(log_id, to_checksum_address(approver))

    def revoke_approver(self, approver: str, log_id: bytes = ANY_LOG) -> Any:
        return self.functions.revokeApprover(log_id, to_checksum_address(approver))

    def grant_anchorer(self, anchorer: str, log_id: bytes = ANY_LOG) -> Any:
        return self.functions.grantAnchorer(log_id, to_checksum_address(anchorer))


class ReadPermits(_Wrapper):
    """Read permits: EIP-712 signed grants and revocations, checked by `isValid(permitId, time)`."""

    name = "ReadPermits"

    def is_valid(self, permit_id: bytes, at: int, block: int | str = "latest") -> bool:
        return bool(self.client.call(self.functions.isValid(permit_id, int(at)), block))

    def get_permit(self, permit_id: bytes, block: int | str = "latest") -> dict[str, Any]:
        """`getPermit` as JSON-friendly data (see `permit_view`)."""
        return permit_view(self.client.call(self.functions.getPermit(permit_id), block), self.artifact)

    def grant(self, permit: tuple, signature: bytes) -> Any:
        return self.functions.grant(permit, signature)

    def revoke(self, permit_id: bytes, signature: bytes) -> Any:
        return self.functions.revoke(permit_id, signature)


def permit_view(raw: Any, artifact: dict[str, Any] | None = None) -> dict[str, Any]:
    """`getPermit` output as JSON-friendly data, using the ABI's output names when it has them."""
    names: list[str] = []
    if artifact:
        fn = next((x for x in artifact["abi"] if x.get("type") == "function" and x.get("name") == "getPermit"), None)
        if fn and len(fn["outputs"]) == 1 and fn["outputs"][0].get("components"):
            names = [c["name"] for c in fn["outputs"][0]["components"]]
        elif fn:
            names = [o.get("name") or f"field{i}" for i, o in enumerate(fn["outputs"])]
    values = list(raw) if isinstance(raw, list | tuple) else [raw]
    if len(values) == 1 and isinstance(values[0], list | tuple) and len(names) != 1:
        values = list(values[0])
    if len(names) != len(values):
        names = [f"field{i}" for i in range(len(values))]

    def plain(v: Any) -> Any:
        if isinstance(v, bytes | bytearray):
            return "0x" + bytes(v).hex()
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v

    return {n: plain(v) for n, v in zip(names, values, strict=True)}


def client_for_rpc(rpc_url: str, *, timeout_s: float = 10.0) -> ChainClient:
    """A read-only client for a bare JSON-RPC URL (no profile, no data dir): the chain id is the
    node's own. For `permit show --rpc` and other offline readers; never use it to send."""
    w3 = http_web3(rpc_url, timeout_s)
    with translate_errors(rpc_url):
        chain_id = int(w3.eth.chain_id)
    profile = ChainProfile(name="rpc", kind="jsonrpc", chain_id=chain_id, rpc_url=rpc_url, request_timeout_s=timeout_s)
    return ChainClient(profile, w3, check_chain_id=False)


def read_permit_at(rpc_url: str, contract: str, permit_id: bytes, *, timeout_s: float = 10.0) -> dict[str, Any]:
    """`permit show --rpc`: a permit read from the chain alone, as of the head block: getPermit and
    isValid(permitId, head block time). Raises `ChainUnavailable` if the node does not answer,
    `TransactionReverted` / `ChainError` if it refuses the calls."""
    client = client_for_rpc(rpc_url, timeout_s=timeout_s)
    permits = ReadPermits(client, contract)
    now = int(time.time())
    with translate_errors(rpc_url):
        head = client.w3.eth.get_block("latest")
    number, block_time = int(head["number"]), int(head["timestamp"])
    valid = permits.is_valid(permit_id, block_time, number)
    view = permits.get_permit(permit_id, number)
    return {
        "permit_id": permit_id.hex(), "contract": permits.address, "chain_id": client.chain_id, "block": number,
        "block_time": block_time, "now": now, "valid_now": valid, **view,
    }  # fmt: skip


__all__ = [
    "ANY_LOG",
    "ArchiveAnchor",
    "ArchiveRoles",
    "ReadPermits",
    "client_for_rpc",
    "permit_view",
    "read_permit_at",
]
