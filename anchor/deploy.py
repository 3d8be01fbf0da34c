"""Deploying the contracts a node needs and giving its key the roles it must hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from anchor.chain import ChainClient
from contracts import load_artifact

ANY_LOG = b"\x00" * 32


@dataclass(frozen=True)
class Deployment:
    contract_address: str
    block_number: int
    admin: str


def deploy_archive_anchor(client: ChainClient, account: Any, *, anchorer: str | None = None) -> Deployment:
    """Deploy ArchiveAnchor with `account` as admin and let `anchorer` (default: the same key)
    anchor every log. Splitting the admin from the anchoring key is the production set-up."""
    artifact = load_artifact("ArchiveAnchor")
    address, receipt = client.deploy(account, artifact, account.address)
    contract = client.contract(address, artifact)
    signed = client.send(account, contract.functions.grantAnchorer(ANY_LOG, anchorer or account.address))
    client.wait_confirmed(signed.tx_hash)
    return Deployment(address, int(receipt["blockNumber"]), account.address)
