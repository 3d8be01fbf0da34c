"""Gas used by ReadPermits.grant / revoke on the in-process chain (py-evm via eth-tester).

    .venv/bin/python bench/gas_permits.py                    # print the table
    .venv/bin/python bench/gas_permits.py --update-results   # also (re)write its section in bench/RESULTS.md

Permits and revocations are signed with anchor/eip712.py, as the node does, and relayed by a third
account (the node's key in production). Deterministic: fixed keys, fixed field values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eth_account import Account
from eth_utils import keccak
from web3 import EthereumTesterProvider, Web3

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import update_results_section  # noqa: E402

from anchor import eip712  # noqa: E402
from contracts import load_artifact  # noqa: E402

SECTION = "## Gas: ReadPermits"
GAS_LIMIT = 3_000_000
DAY = 86_400


def run() -> tuple[list[tuple[str, int, str]], dict]:
    w3 = Web3(EthereumTesterProvider())
    keys = [Account.from_key(k) for k in w3.provider.ethereum_tester.backend.account_keys]
    sys_admin, sec_admin, auditor, approver, approver_any, relayer = keys[:6]

    def wait(tx):
        receipt = w3.eth.wait_for_transaction_receipt(tx)
        assert receipt.status == 1
        return receipt

    def deploy(name: str, *args):
        art = load_artifact(name)
        factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = wait(factory.constructor(*args).transact({"from": relayer.address}))
        return w3.eth.contract(address=receipt.contractAddress, abi=art["abi"]), receipt.gasUsed

    roles, roles_gas = deploy("ArchiveRoles", sys_admin.address, sec_admin.address, auditor.address)
    permits, deploy_gas = deploy("ReadPermits", roles.address)
    log_a = keccak(text="archive-ledger/log/v1/Z001")
    rows: list[tuple[str, int, str]] = []
    gas = wait(roles.functions.grantApprover(log_a, approver.address).transact({"from": sec_admin.address})).gasUsed
    rows.append(("ArchiveRoles.grantApprover (first use of the log's role)", gas, "security admin"))
    wait(roles.functions.grantApprover(b"\x00" * 32, approver_any.address).transact({"from": sec_admin.address}))

    chain_id, address = w3.eth.chain_id, permits.address
    start = 4_000_000_000  # fixed (year 2096), so calldata and gas do not depend on the clock
    assert start > int(w3.eth.get_block("latest")["timestamp"])

    def permit(n: int, item: int = 1) -> eip712.Permit:
        return eip712.Permit(
            log_id=log_a,
            item_key=keccak(text=f"item {item}"),
            grantee=keccak(text="grantee 1"),
            not_before=start,
            expires_at=start + 14 * DAY,
            loan_id=keccak(text=f"loan {n}"),
        )

    def grant(p: eip712.Permit, signer) -> int:
        sig = eip712.sign_permit(signer, p, chain_id, address)
        tx = permits.functions.grant(p.as_tuple(), sig).transact({"from": relayer.address, "gas": GAS_LIMIT})
        return wait(tx).gasUsed

    def revoke(p: eip712.Permit, signer) -> int:
        pid = eip712.permit_id(p)
        sig = eip712.sign_revoke(signer, pid, chain_id, address)
        tx = permits.functions.revoke(pid, sig).transact({"from": relayer.address, "gas": GAS_LIMIT})
        return wait(tx).gasUsed

    p1, p2, p3 = permit(1), permit(2), permit(3, item=2)
    rows.append(("grant: first permit of (grantee, item)", grant(p1, approver), "approver of the log"))
    rows.append(("grant: second permit of the same (grantee, item)", grant(p2, approver), "index slot already used"))
    rows.append(("grant: signed by an ANY_LOG approver", grant(p3, approver_any), "two role lookups"))
    rows.append(("grant: identical re-grant (no-op)", grant(p1, approver), "re-sent relay"))
    rows.append(("revoke: by the permit's approver", revoke(p1, approver), ""))
    rows.append(("revoke: by the security admin", revoke(p2, sec_admin), "role lookup in ArchiveRoles"))
    rows.append(("revoke: already revoked (no-op)", revoke(p1, approver), ""))
    vm = w3.provider.ethereum_tester.backend.chain.get_vm()
    return rows, {"deploy_gas": deploy_gas, "roles_deploy_gas": roles_gas, "vm": type(vm).__name__}


def render(rows: list[tuple[str, int, str]], info: dict) -> str:
    lines = ["| case | gas (tx total) | note |", "| --- | ---: | --- |"]
    lines += [f"| {case} | {gas:,} | {note} |" for case, gas, note in rows]
    lines.append("")
    lines.append(
        f"Deployment: ReadPermits {info['deploy_gas']:,} gas, ArchiveRoles {info['roles_deploy_gas']:,}. "
        f"Chain: eth-tester py-evm ({info['vm']}); totals include the 21,000 base cost and calldata "
        "(a grant carries the 6-field permit and a 65-byte signature)."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Gas used by ReadPermits")
    parser.add_argument("--update-results", action="store_true", help=f"(re)write '{SECTION}' in RESULTS.md")
    args = parser.parse_args(argv)
    rows, info = run()
    table = render(rows, info)
    print(table)
    if args.update_results:
        command = ".venv/bin/python bench/gas_permits.py --update-results"
        path = update_results_section(SECTION, table, command, deterministic=True)
        print(f"\nupdated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
