"""Contracts on an in-process chain (eth-tester): deploy, send, and read the custom error a call
reverts with. Shared by the contract tests (ArchiveAnchor, ArchiveRoles, ReadPermits) and EIP-712's."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi import decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import EthereumTesterProvider, Web3
from web3.logs import DISCARD

from contracts import load_artifact

# ArchiveRoles: officer roles and role scopes (LOG_A, LOG_B are two logs of the roles tests)
SYSTEM_ADMIN = keccak(text="SYSTEM_ADMIN_ROLE")
SECURITY_ADMIN = keccak(text="SECURITY_ADMIN_ROLE")
AUDITOR = keccak(text="AUDITOR_ROLE")
TWO_OFFICERS = keccak(text="TWO_OFFICERS")
ANY_LOG = b"\x00" * 32
LOG_A = keccak(text="log A")
LOG_B = keccak(text="log B")


def revert_data(exc: BaseException) -> bytes:
    """Raw revert bytes from a web3 / eth-tester exception (whichever layer carries them)."""
    e: BaseException | None = exc
    while e is not None:
        data = getattr(e, "data", None)
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        if e.args and isinstance(e.args[0], bytes):
            return e.args[0]
        # eth-tester via web3: TransactionFailed("execution reverted: b'...'")
        if e.args and isinstance(e.args[0], str) and e.args[0].startswith("execution reverted: b"):
            return ast.literal_eval(e.args[0].removeprefix("execution reverted: "))
        e = e.__cause__ or e.__context__
    raise AssertionError(f"no revert data in {exc!r}")


def error_table(abi: list[dict]) -> dict[bytes, tuple[str, list[str]]]:
    table = {}
    for item in abi:
        if item["type"] == "error":
            types = [i["type"] for i in item["inputs"]]
            table[keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (item["name"], types)
    return table


@dataclass
class Harness:
    """One eth-tester chain; accounts are eth-tester's (known keys, so they can also sign typed data)."""

    w3: Web3
    keys: list[LocalAccount]
    errors: dict[bytes, tuple[str, list[str]]] = field(default_factory=dict)

    @classmethod
    def create(cls) -> Harness:
        w3 = Web3(EthereumTesterProvider())
        keys = [Account.from_key(k) for k in w3.provider.ethereum_tester.backend.account_keys]
        return cls(w3, keys)

    def deploy(self, name: str, sender: str, *args: Any) -> Any:
        artifact = load_artifact(name)
        self.errors.update(error_table(artifact["abi"]))
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = self.w3.eth.wait_for_transaction_receipt(
            factory.constructor(*args).transact({"from": sender, "gas": 6_000_000})
        )
        assert receipt.status == 1
        return self.w3.eth.contract(address=receipt.contractAddress, abi=artifact["abi"])

    def deploy_revert(self, name: str, *args: Any) -> tuple[str, tuple]:
        artifact = load_artifact(name)
        self.errors.update(error_table(artifact["abi"]))
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        with pytest.raises(Exception) as info:
            factory.constructor(*args).estimate_gas({"from": self.w3.eth.accounts[0]})
        return self.decode(revert_data(info.value))

    def send(self, call: Any, sender: str) -> Any:
        receipt = self.w3.eth.wait_for_transaction_receipt(call.transact({"from": sender, "gas": 3_000_000}))
        assert receipt.status == 1
        return receipt

    def decode(self, data: bytes) -> tuple[str, tuple]:
        name, types = self.errors[data[:4]]
        values = decode(types, data[4:])
        return name, tuple(
            Web3.to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True)
        )

    def revert(self, call: Any, sender: str) -> tuple[str, tuple]:
        """The custom error `call` reverts with (eth_call: nothing is mined)."""
        with pytest.raises(Exception) as info:
            call.call({"from": sender})
        return self.decode(revert_data(info.value))

    def events(self, contract: Any, event: str, receipt: Any) -> list[dict]:
        return [dict(e.args) for e in getattr(contract.events, event)().process_receipt(receipt, errors=DISCARD)]
