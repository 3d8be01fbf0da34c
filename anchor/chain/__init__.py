"""The node's chain access, in parts (see docs/design.md "Chain client"):

- `transport`: the Web3 connection for a profile; network failures become `ChainUnavailable`;
- `nonces`: `SignedTx` and one `NonceManager` per address;
- `reverts`: revert data decoded into (error name, args);
- `client`: `ChainClient`, build/sign/prepare/broadcast/confirm for one profile;
- `contracts`: wrappers of ArchiveAnchor, ArchiveRoles and ReadPermits;
- `reader`: `Web3ChainReader`, the verifier's ChainReader over a Web3;
- `dev`: development-chain helpers (`fund_from_dev_account`), never on the production path.

The public names are re-exported here, so ``from anchor.chain import ChainClient`` is the import.
"""

from anchor.chain.client import ChainClient
from anchor.chain.nonces import NonceManager, SignedTx
from anchor.chain.reader import ReaderCallReverted, ReaderChainUnavailable, ReaderRPCError, Web3ChainReader
from anchor.chain.reverts import decode_revert
from anchor.chain.transport import check_chain, connect, translate_errors

__all__ = [
    "ChainClient",
    "NonceManager",
    "ReaderCallReverted",
    "ReaderChainUnavailable",
    "ReaderRPCError",
    "SignedTx",
    "Web3ChainReader",
    "check_chain",
    "connect",
    "decode_revert",
    "translate_errors",
]
