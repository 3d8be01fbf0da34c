"""Development-chain helpers: what only ganache and eth-tester can do (unlocked, funded accounts).

Kept out of `ChainClient` on purpose: a production chain has no unlocked account, and nothing on
the production path should be able to reach for one.
"""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address
from web3.exceptions import Web3RPCError

from anchor.chain.client import ChainClient
from anchor.chain.transport import error_message, hex_hash, translate_errors
from anchor.errors import ChainError


def fund_from_dev_account(client: ChainClient, address: str, wei: int) -> Any:
    """Send ``wei`` to ``address`` from the node's unlocked accounts[0] (ganache, eth-tester) and
    return the confirmed receipt. Development chains only: production chains have no unlocked accounts."""
    with translate_errors(client.where):
        accounts = client.w3.eth.accounts
        if not accounts:
            raise ChainError(
                f"the chain at {client.where} has no unlocked account to fund {address} from; "
                "fund it by other means (fund_from_dev_account is for ganache only)"
            )
        try:
            tx_hash = client.w3.eth.send_transaction(
                {"from": accounts[0], "to": to_checksum_address(address), "value": int(wei)}
            )
        except Web3RPCError as e:
            raise ChainError(f"funding {address} from the dev account failed: {error_message(e)}") from e
    return client.wait_confirmed(hex_hash(tx_hash))


__all__ = ["fund_from_dev_account"]
