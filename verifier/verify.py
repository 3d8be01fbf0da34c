"""Verify a proof bundle: content hash -> record -> inclusion path -> root anchored on chain.

Each step has its own reason code so a failure says exactly what is wrong. The outcome is
`authentic` only when every step passed; a step that could not be decided (chain unreachable, not
yet confirmed, skipped) makes it `indeterminate`, never `not_authentic`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from verifier import merkle
from verifier.bundle import ProofBundle
from verifier.chain import (
    ANCHOR_VERSION,
    ChainReader,
    anchor_version,
    anchored_at_block,
    root_at,
)
from verifier.errors import BundleError, ChainUnavailable, InclusionProofError, VerifierError
from verifier.records import record_leaf_hash

Outcome = Literal["authentic", "not_authentic", "indeterminate"]

CHUNK_SIZE = 1 << 20
STEP_NAMES = ("content_hash", "record", "inclusion", "chain")
EXIT_CODES: dict[str, int] = {"authentic": 0, "not_authentic": 1, "indeterminate": 2}

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_UINT64_MAX = 2**64 - 1

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
    chain: ChainReader | None,
    confirmations: int = 1,
    expected_chain_id: int | None = None,
    expected_contract: str | None = None,
) -> VerificationResult:
    """Run the four steps in order, stopping at the first failure; later steps are reported not run.

    `content` (or its precomputed `content_sha256`) is the file to check against the record; without
    it the content step is skipped. `chain=None` checks offline only. A root counts as confirmed when
    the contract holds it at block latest - confirmations + 1.
    """
    if content is not None and content_sha256 is not None:
        raise ValueError("give content or content_sha256, not both")
    if content_sha256 is not None and not (
        isinstance(content_sha256, str) and _HEX64.fullmatch(content_sha256.lower())
    ):
        raise ValueError("content_sha256 must be 64 hex characters")
    if not isinstance(confirmations, int) or confirmations < 1:
        raise ValueError("confirmations must be an integer >= 1")

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
        return _check_chain(parsed, chain, confirmations, expected_chain_id, expected_contract)

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


def _check_chain(
    b: ProofBundle,
    chain: ChainReader | None,
    confirmations: int,
    expected_chain_id: int | None,
    expected_contract: str | None,
) -> str:
    if chain is None:
        raise _StepFailed("offline", "no chain given: offline check only, the root was not looked up", None)
    if b.anchor is None:
        raise _StepFailed("not_confirmed", "the bundle has no anchor yet: its checkpoint is still pending", None)
    anchor = b.anchor
    try:
        chain_id = chain.chain_id()
        if chain_id != anchor.chain_id:
            raise _StepFailed(
                "wrong_chain_id", f"chain id is {chain_id}, the bundle was anchored on {anchor.chain_id}"
            )
        if expected_chain_id is not None and chain_id != expected_chain_id:
            raise _StepFailed("wrong_chain_id", f"chain id is {chain_id}, expected {expected_chain_id}")

        contract = anchor.contract
        if expected_contract is not None and contract.lower() != expected_contract.lower():
            raise _StepFailed("contract_unknown", f"the bundle names contract {contract}, expected {expected_contract}")
        if not chain.get_code(contract):
            raise _StepFailed("contract_unknown", f"no contract code at {contract}")
        try:
            version = anchor_version(chain, contract)
        except ChainUnavailable:
            raise
        except VerifierError as exc:
            raise _StepFailed("contract_unknown", f"{contract} does not answer anchorVersion(): {exc}") from exc
        if version != ANCHOR_VERSION:
            raise _StepFailed(
                "contract_unknown",
                f"{contract} answers anchorVersion() = {version!r}, not {ANCHOR_VERSION!r}",
            )

        latest = chain.block_number()
        confirmed = latest - confirmations + 1
        where = f"log {b.log_id.hex()} size {b.tree_size}"
        if confirmed >= 0:
            held = root_at(chain, contract, b.log_id, b.tree_size, confirmed)
            if held == b.root:
                return (
                    f"root {b.root.hex()} for {where} is anchored on chain {chain_id} at {contract}"
                    f"{_block_note(chain, contract, b, confirmed)}, with at least {confirmations} confirmation(s)"
                )
            if held != bytes(32):
                raise _StepFailed("root_not_on_chain", f"the contract holds a different root for {where}: {held.hex()}")
        held_latest = root_at(chain, contract, b.log_id, b.tree_size, latest)
        if held_latest == b.root:
            block = anchored_at_block(chain, contract, b.log_id, b.tree_size, latest)
            depth = latest - block + 1 if block else 0
            raise _StepFailed(
                "not_confirmed",
                f"root for {where} is in block {block} with {depth} of {confirmations} confirmations",
                None,
            )
        if held_latest != bytes(32):
            raise _StepFailed(
                "root_not_on_chain", f"the contract holds a different root for {where}: {held_latest.hex()}"
            )
        raise _StepFailed("root_not_on_chain", f"the contract holds no root for {where}")
    except ChainUnavailable as exc:
        raise _StepFailed("chain_unreachable", f"chain unreachable: {exc}", None) from exc
    except _StepFailed:
        raise
    except VerifierError as exc:
        raise _StepFailed("chain_unreachable", f"the chain node could not answer: {exc}", None) from exc


def _block_note(chain: ChainReader, contract: str, b: ProofBundle, block: int) -> str:
    """Where the root was anchored, for the message only: the decision is already made."""
    assert b.anchor is not None
    try:
        at = anchored_at_block(chain, contract, b.log_id, b.tree_size, block)
    except VerifierError:
        return ""
    claimed = b.anchor.block_number
    return f", block {at}" + ("" if at == claimed else f" (the bundle says block {claimed})")
