"""Deploying the contracts a node needs and giving its key the roles it must hold.

`deploy_contracts` deploys, with the node key paying gas:
  1. ArchiveRoles(system_admin, security_admin, auditor): the deployer gets no role at all;
  2. ArchiveAnchor(roles) and 3. ReadPermits(roles);
then the system admin (an officer key, not the node key) grants `anchorerRole(ANY_LOG)` to the
anchoring key. On a chain that charges gas, officers with an empty balance first get a little gas
money from the deployer, enough for a few dozen role transactions.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount

from anchor.chain import ChainClient
from anchor.chain.contracts import ANY_LOG, ArchiveRoles
from anchor.chain.dev import fund_from_dev_account
from contracts import load_artifact

OFFICER_ROLES = ("system_admin", "security_admin", "auditor")
# Gas money per officer: gas price x this. Generous on purpose: some nodes (eth-tester) refuse even to
# estimate gas for a sender that cannot afford the block gas limit (30M); ~0.1 ETH at 2.75 gwei.
OFFICER_GAS_UNITS = 40_000_000
TEST_FUNDING_WEI = 10**18


@dataclass(frozen=True)
class Deployment:
    roles: str  # ArchiveRoles
    anchor: str  # ArchiveAnchor
    permits: str  # ReadPermits
    block_number: int  # block of the first deployment (ArchiveRoles): where event scans start
    anchor_block: int | None = None  # block of each later deployment (the trust root lists them)
    permits_block: int | None = None

    @property
    def contract_address(self) -> str:
        """The ArchiveAnchor address (the name the node's config has always used)."""
        return self.anchor


def gas_price(client: ChainClient) -> int:
    """Price per gas unit the client will pay (legacy gasPrice, or EIP-1559 maxFeePerGas)."""
    fees = client._fees()
    return int(fees.get("gasPrice", fees.get("maxFeePerGas", 0)))


def deploy_contracts(
    client: ChainClient,
    deployer: LocalAccount,
    *,
    system_admin: LocalAccount,
    security_admin: LocalAccount,
    auditor: LocalAccount,
    anchorer: str,
    officer_funding_wei: int | None = None,
) -> Deployment:
    """Deploy ArchiveRoles, ArchiveAnchor and ReadPermits; make `anchorer` an anchorer of every log.

    `deployer` pays for the deployments (the node key). `officer_funding_wei`: what an officer with a
    zero balance receives from the deployer (default: gas price x 40,000,000; nothing on a chain whose
    gas price is 0)."""
    price = gas_price(client)
    if price > 0:
        amount = officer_funding_wei if officer_funding_wei is not None else price * OFFICER_GAS_UNITS
        funding = [
            client.send(deployer, {"to": officer.address, "value": amount, "gas": 21_000})
            for officer in (system_admin, security_admin, auditor)
            if amount > 0 and client.balance(officer.address) == 0
        ]
        for signed in funding:
            client.wait_confirmed(signed.tx_hash)

    roles_artifact = load_artifact("ArchiveRoles")
    roles, receipt = client.deploy(
        deployer, roles_artifact, system_admin.address, security_admin.address, auditor.address
    )
    anchor, anchor_receipt = client.deploy(deployer, load_artifact("ArchiveAnchor"), roles)
    permits, permits_receipt = client.deploy(deployer, load_artifact("ReadPermits"), roles)

    signed = client.send(system_admin, ArchiveRoles(client, roles).grant_anchorer(anchorer))
    client.wait_confirmed(signed.tx_hash)
    return Deployment(
        roles=roles, anchor=anchor, permits=permits, block_number=int(receipt["blockNumber"]),
        anchor_block=int(anchor_receipt["blockNumber"]), permits_block=int(permits_receipt["blockNumber"]),
    )  # fmt: skip


def deploy_for_tests(client: ChainClient, anchorer_account: LocalAccount) -> tuple[Deployment, dict[str, LocalAccount]]:
    """Development chains only: throwaway officer keys (funded from the dev account) and a deployment
    paid by, and anchored by, `anchorer_account`. Returns (deployment, {role name: officer account})."""
    officers = {role: Account.create() for role in OFFICER_ROLES}
    for officer in officers.values():
        fund_from_dev_account(client, officer.address, TEST_FUNDING_WEI)
    deployment = deploy_contracts(
        client,
        anchorer_account,
        system_admin=officers["system_admin"],
        security_admin=officers["security_admin"],
        auditor=officers["auditor"],
        anchorer=anchorer_account.address,
    )
    return deployment, officers


__all__ = ["ANY_LOG", "OFFICER_ROLES", "Deployment", "deploy_contracts", "deploy_for_tests", "gas_price"]
