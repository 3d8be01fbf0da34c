"""Verify a proof bundle: content hash -> record -> inclusion path -> root anchored on chain.

Each step has its own reason code so a failure says exactly what is wrong. The outcome is
`authentic` only when every step passed; a step that could not be decided (chain unreachable, not
yet confirmed, skipped, no trust root) makes it `indeterminate`, never `not_authentic`.

What the chain step trusts comes from the pinned trust root, never from the bundle: the chain id,
the genesis block hash and the ArchiveAnchor address. Every chain endpoint is asked in one JSON-RPC
batch and all of them must tell the same story.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from verifier import merkle
from verifier.bundle import ProofBundle
from verifier.chain import (
    ANCHOR_VERSION,
    ChainReader,
    decode_bytes32,
    decode_string,
    decode_uint64,
    encode_anchor_version,
    encode_anchored_at_block,
    encode_root_at,
)
from verifier.errors import BundleError, ChainUnavailable, InclusionProofError, RpcCallError, VerifierError
from verifier.records import record_leaf_hash
from verifier.trustroot import TrustRoot

Outcome = Literal["authentic", "not_authentic", "indeterminate"]

CHUNK_SIZE = 1 << 20
STEP_NAMES = ("content_hash", "record", "inclusion", "chain")
EXIT_CODES: dict[str, int] = {"authentic": 0, "not_authentic": 1, "indeterminate": 2}

_HEX64 = re.compile(r"[0-9a-f]{64}")
_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")
_DATA = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_BLOCK_HASH = re.compile(r"0x[0-9a-fA-F]{64}")

__all__ = [
    "CHUNK_SIZE",
    "STEP_NAMES",
    "StepResult",
    "VerificationResult",
    "hash_content",
    "verify_bundle",
]


@dataclass(frozen=True)
class StepResult:
    """One step: ok True (passed), False (failed), None (undecided, skipped or not run)."""

    name: str
    ok: bool | None
    reason_code: str | None
    message: str

    @property
    def status(self) -> str:
        if self.ok is True:
            return "passed"
        if self.ok is False:
            return "failed"
        return "not_run" if self.reason_code is None else "indeterminate"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "status": self.status,
            "reason_code": self.reason_code,
            "message": self.message,
        }


@dataclass(frozen=True)
class VerificationResult:
    outcome: Outcome
    steps: tuple[StepResult, ...]
    failed_step: str | None
    reason_code: str | None
    message: str

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "failed_step": self.failed_step,
            "reason_code": self.reason_code,
            "message": self.message,
            "steps": [s.to_dict() for s in self.steps],
        }


class _StepFailed(Exception):
    def __init__(self, reason_code: str, message: str, ok: bool | None = False) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message
        self.ok = ok


class _NotRun(Exception):
    """The step cannot run; a later step reports why."""


def hash_content(content: BinaryIO | bytes | bytearray | memoryview) -> str:
    """Hex SHA-256 of bytes or of a binary stream read in 1 MiB chunks (never whole)."""
    h = hashlib.sha256()
    if isinstance(content, bytes | bytearray | memoryview):
        h.update(content)
        return h.hexdigest()
    while chunk := content.read(CHUNK_SIZE):
        h.update(chunk)
    return h.hexdigest()


def verify_bundle(
    bundle: dict,
    *,
    content: BinaryIO | bytes | None = None,
    content_sha256: str | None = None,
    trust: TrustRoot | None,
    chains: Sequence[ChainReader] = (),
    confirmations: int | None = None,
) -> VerificationResult:
    """Run the four steps in order, stopping at the first failure; later steps are reported not run.

    `content` (or its precomputed `content_sha256`) is the file to check against the record; without
    it the content step is undecided. `trust` is the pinned trust root (None: never authentic,
    `no_trust_root`); `chains` the endpoints to ask (none: offline check only). A root counts as
    confirmed when it was anchored at least max(trust.confirmations, `confirmations`) blocks deep.
    """
    if content is not None and content_sha256 is not None:
        raise ValueError("give content or content_sha256, not both")
    if content_sha256 is not None and not (
        isinstance(content_sha256, str) and _HEX64.fullmatch(content_sha256.lower())
    ):
        raise ValueError("content_sha256 must be 64 hex characters")
    if confirmations is not None and (
        not isinstance(confirmations, int) or isinstance(confirmations, bool) or confirmations < 1
    ):
        raise ValueError("confirmations must be an integer >= 1")
    if trust is not None and not isinstance(trust, TrustRoot):
        raise TypeError("trust must be a TrustRoot (verifier.trustroot.load_trust_root) or None")
    chains = tuple(chains)

    parsed: ProofBundle | None = None
    bundle_error: _StepFailed | None = None
    try:
        parsed = ProofBundle.from_json(bundle)
    except BundleError as exc:
        bundle_error = _StepFailed(exc.reason_code, exc.message)

    def content_step() -> str:
        record = bundle.get("record") if isinstance(bundle, dict) else None
        claimed = record.get("content_sha256") if isinstance(record, dict) else None
        if not (isinstance(claimed, str) and _HEX64.fullmatch(claimed)):
            raise _NotRun("not run: the record has no usable content_sha256")
        if content is not None:
            actual = hash_content(content)
        elif content_sha256 is not None:
            actual = content_sha256.lower()
        else:
            raise _StepFailed("content_not_given", "no content given: the file itself was not checked", None)
        if actual != claimed:
            raise _StepFailed("content_mismatch", f"content SHA-256 is {actual}, the record says {claimed}")
        return f"content SHA-256 matches the record ({actual})"

    def record_step() -> str:
        if bundle_error is not None:
            raise bundle_error
        assert parsed is not None
        computed = record_leaf_hash(parsed.record)
        if computed != parsed.leaf_hash:
            raise _StepFailed(
                "record_tampered",
                f"leaf hash of the record is {computed.hex()}, the bundle says {parsed.leaf_hash.hex()}",
            )
        return f"record is well formed and hashes to leaf {computed.hex()}"

    def inclusion_step() -> str:
        assert parsed is not None
        b = parsed
        try:
            merkle.verify_inclusion(b.leaf_index, b.tree_size, b.leaf_hash, b.inclusion_path, b.root)
        except InclusionProofError as exc:
            raise _StepFailed("bad_inclusion_path", f"inclusion path does not lead to the root: {exc}") from exc
        return f"leaf {b.leaf_index} is in the tree of size {b.tree_size} with root {b.root.hex()}"

    def chain_step() -> str:
        assert parsed is not None
        return _check_chain(parsed, trust, chains, confirmations)

    runners: dict[str, Callable[[], str]] = {
        "content_hash": content_step,
        "record": record_step,
        "inclusion": inclusion_step,
        "chain": chain_step,
    }
    steps: list[StepResult] = []
    stopped = False
    for name in STEP_NAMES:
        if stopped:
            steps.append(StepResult(name, None, None, "not run: an earlier step failed"))
            continue
        try:
            steps.append(StepResult(name, True, None, runners[name]()))
        except _NotRun as exc:
            steps.append(StepResult(name, None, None, str(exc)))
        except _StepFailed as exc:
            steps.append(StepResult(name, exc.ok, exc.reason_code, exc.message))
            stopped = exc.ok is False
    return _summarise(tuple(steps))


def _summarise(steps: tuple[StepResult, ...]) -> VerificationResult:
    failed = next((s for s in steps if s.ok is False), None)
    if failed is not None:
        return VerificationResult("not_authentic", steps, failed.name, failed.reason_code, failed.message)
    undecided = next((s for s in steps if s.ok is None), None)
    if undecided is not None:
        return VerificationResult("indeterminate", steps, undecided.name, undecided.reason_code, undecided.message)
    return VerificationResult("authentic", steps, None, None, steps[-1].message)


# -- chain ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    """What one endpoint said, parsed. `contract_problem` is set when the anchor calls reverted or
    did not answer like an ArchiveAnchor."""

    endpoint: str
    chain_id: int
    genesis_hash: str
    latest: int
    version: str | None
    root: bytes | None
    anchored_block: int | None
    contract_problem: str | None

    def story(self) -> tuple:
        """What every honest endpoint must agree on (block heights may differ)."""
        return (
            self.chain_id,
            self.genesis_hash,
            self.version,
            self.contract_problem is None,
            self.root,
            self.anchored_block,
        )


def chain_calls(contract: str, log_id: bytes, tree_size: int) -> list[tuple[str, list]]:
    """The one batch the chain step sends to every endpoint."""

    def call(data: bytes) -> tuple[str, list]:
        return ("eth_call", [{"to": contract, "data": "0x" + data.hex()}, "latest"])

    return [
        ("eth_chainId", []),
        ("eth_getBlockByNumber", ["0x0", False]),
        ("eth_blockNumber", []),
        call(encode_anchor_version()),
        call(encode_root_at(log_id, tree_size)),
        call(encode_anchored_at_block(log_id, tree_size)),
    ]


def _check_chain(
    b: ProofBundle, trust: TrustRoot | None, chains: tuple[ChainReader, ...], confirmations: int | None
) -> str:
    if trust is None:
        raise _StepFailed(
            "no_trust_root",
            "no trust root given: the chain, contract and keys to trust are unknown, so nothing can be authentic",
            None,
        )
    if b.anchor is None:
        raise _StepFailed("not_confirmed", "the bundle has no anchor yet: its checkpoint is still pending", None)
    contract = trust.anchor_address
    if b.anchor.contract.lower() != contract or b.anchor.chain_id != trust.chain_id:
        raise _StepFailed(
            "contract_untrusted",
            f"the bundle names contract {b.anchor.contract} on chain {b.anchor.chain_id}; the trust root trusts "
            f"ArchiveAnchor {contract} on chain {trust.chain_id}",
        )
    if not chains:
        raise _StepFailed("offline", "no chain given: offline check only, the root was not looked up", None)
    need = max(trust.confirmations, confirmations or 0)
    calls = chain_calls(contract, b.log_id, b.tree_size)

    def ask(chain: ChainReader) -> _View | str:
        endpoint = str(getattr(chain, "endpoint", chain))
        try:
            return _ask(chain, endpoint, calls)
        except ChainUnavailable as exc:
            return f"{endpoint} ({exc})"

    if len(chains) == 1:
        answers = [ask(chains[0])]
    else:  # witnesses in parallel: one slow or dead endpoint does not add up
        with ThreadPoolExecutor(max_workers=min(len(chains), 8)) as pool:
            answers = list(pool.map(ask, chains))
    views = [a for a in answers if isinstance(a, _View)]
    unreachable = [a for a in answers if isinstance(a, str)]

    if len({v.story() for v in views}) > 1:
        raise _StepFailed("split_view", "chain endpoints disagree: " + "; ".join(_describe(v) for v in views))
    for v in views:
        if v.chain_id != trust.chain_id or v.genesis_hash != trust.genesis_hash:
            raise _StepFailed(
                "wrong_chain",
                f"{v.endpoint} is chain {v.chain_id} with genesis {v.genesis_hash}; the trust root pins chain "
                f"{trust.chain_id} with genesis {trust.genesis_hash}",
            )
    if unreachable:
        raise _StepFailed("chain_unreachable", "chain unreachable: " + "; ".join(unreachable), None)

    v = views[0]
    names = ", ".join(x.endpoint for x in views)
    if v.contract_problem is not None:
        raise _StepFailed("contract_unknown", f"{contract} (per {names}): {v.contract_problem}")
    if v.version != ANCHOR_VERSION:
        raise _StepFailed(
            "contract_unknown",
            f"{contract} answers anchorVersion() = {v.version!r}, not {ANCHOR_VERSION!r} (per {names})",
        )
    where = f"log {b.log_id.hex()} size {b.tree_size}"
    if v.root == bytes(32):
        raise _StepFailed("root_not_on_chain", f"the contract {contract} holds no root for {where} (per {names})")
    if v.root != b.root:
        assert v.root is not None
        raise _StepFailed(
            "root_not_on_chain",
            f"the contract {contract} holds a different root for {where}: {v.root.hex()} (per {names})",
        )
    latest = min(x.latest for x in views)
    block = v.anchored_block or 0
    depth = latest - block + 1 if block else 0
    if depth < need:
        raise _StepFailed(
            "not_confirmed",
            f"root for {where} is in block {block} with {max(depth, 0)} of {need} confirmations (per {names})",
            None,
        )
    claimed = b.anchor.block_number
    note = "" if block == claimed else f" (the bundle says block {claimed})"
    return (
        f"root {b.root.hex()} for {where} is anchored on chain {trust.chain_id} at {contract}, block {block}{note}, "
        f"with {depth} confirmation(s) (at least {need}); endpoints agreeing: {names}"
    )


def _ask(chain: ChainReader, endpoint: str, calls: list[tuple[str, list]]) -> _View:
    """One batch to one endpoint, parsed; ChainUnavailable if it cannot be used at all."""
    try:
        answers = chain.batch(calls)
    except ChainUnavailable:
        raise
    except VerifierError as exc:
        raise ChainUnavailable(f"the chain node could not answer: {exc}") from exc
    if not isinstance(answers, list) or len(answers) != len(calls):
        raise ChainUnavailable(f"{endpoint} did not give one answer to each of the {len(calls)} calls")
    chain_id_raw, genesis_raw, latest_raw, version_raw, root_raw, block_raw = answers
    chain_id = _quantity(chain_id_raw, "eth_chainId")
    latest = _quantity(latest_raw, "eth_blockNumber")
    if isinstance(genesis_raw, RpcCallError):
        raise ChainUnavailable(str(genesis_raw))
    genesis = genesis_raw.get("hash") if isinstance(genesis_raw, dict) else None
    if not (isinstance(genesis, str) and _BLOCK_HASH.fullmatch(genesis)):
        raise ChainUnavailable(f"eth_getBlockByNumber(0x0): no block hash in {genesis_raw!r}")

    problem: str | None = None
    version = root = block = None
    try:
        version = decode_string(_call_data(version_raw, "anchorVersion()"))
        ret = _call_data(root_raw, "rootAt()")
        root = bytes(32) if ret == b"" else decode_bytes32(ret)
        ret = _call_data(block_raw, "anchoredAtBlock()")
        block = 0 if ret == b"" else decode_uint64(ret)
    except ChainUnavailable:
        raise
    except VerifierError as exc:
        problem = f"is not an ArchiveAnchor: {exc}"
    return _View(endpoint, chain_id, genesis.lower(), latest, version, root, block, problem)


def _quantity(value: Any, method: str) -> int:
    if isinstance(value, RpcCallError):
        raise ChainUnavailable(str(value))
    if not (isinstance(value, str) and _QUANTITY.fullmatch(value)):
        raise ChainUnavailable(f"{method}: expected a hex quantity, got {value!r}")
    return int(value, 16)


def _call_data(value: Any, what: str) -> bytes:
    if isinstance(value, RpcCallError):
        raise VerifierError(f"{what} failed: {value}")
    if not (isinstance(value, str) and _DATA.fullmatch(value)):
        raise ChainUnavailable(f"eth_call {what}: expected hex data, got {value!r}")
    return bytes.fromhex(value[2:])


def _describe(v: _View) -> str:
    if v.contract_problem is not None:
        contract = v.contract_problem
    else:
        root = "none" if v.root in (None, bytes(32)) else v.root.hex()  # type: ignore[union-attr]
        contract = f"anchorVersion {v.version!r}, root {root}, anchored in block {v.anchored_block}"
    return f"{v.endpoint} says chain {v.chain_id}, genesis {v.genesis_hash}, {contract}"
