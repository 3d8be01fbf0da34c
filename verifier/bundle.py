"""The proof bundle: one typed model shared by the node (which builds it) and the verifier (which parses it).

The wire form is a JSON object (`to_json`); `from_json` checks every field's type and shape, so the
rest of the verifier works on checked values only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from verifier.errors import BundleError, RecordError
from verifier.records import log_id_for_fonds, validate_record

BUNDLE_VERSION = 1
BUNDLE_FIELDS = ("v", "record", "leaf_hash", "leaf_index", "tree_size", "inclusion_path", "root", "log_id", "anchor")
ANCHOR_FIELDS = ("chain_id", "contract", "tx_hash", "block_number")

# The wire form as a JSON Schema (draft 2020-12, as OpenAPI 3.1 uses it): the node's OpenAPI names it for
# every route that answers a bundle (node/core/schemas.py), so the bundle has this one definition.
_HEX64_SCHEMA = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_UINT64_SCHEMA = {"type": "integer", "minimum": 0}  # at most 2**64 - 1 (checked by from_json)
BUNDLE_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A record, its inclusion path to a checkpoint root, and where that root was anchored "
    "(verifier/bundle.py, ProofBundle).",
    "required": list(BUNDLE_FIELDS),
    "additionalProperties": False,
    "properties": {
        "v": {"const": BUNDLE_VERSION},
        "record": {"type": "object", "description": "the ledger record (verifier/records.py)"},
        "leaf_hash": _HEX64_SCHEMA,
        "leaf_index": _UINT64_SCHEMA,
        "tree_size": {**_UINT64_SCHEMA, "minimum": 1},
        "inclusion_path": {"type": "array", "items": _HEX64_SCHEMA},
        "root": _HEX64_SCHEMA,
        "log_id": _HEX64_SCHEMA,
        "anchor": {
            "anyOf": [
                {
                    "type": "object",
                    "required": list(ANCHOR_FIELDS),
                    "additionalProperties": False,
                    "properties": {
                        "chain_id": _UINT64_SCHEMA,
                        "contract": {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"},
                        "tx_hash": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"},
                        "block_number": _UINT64_SCHEMA,
                    },
                },
                {"type": "null"},
            ]
        },
    },
}

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_UINT64_MAX = 2**64 - 1

__all__ = ["ANCHOR_FIELDS", "BUNDLE_FIELDS", "BUNDLE_JSON_SCHEMA", "BUNDLE_VERSION", "Anchor", "ProofBundle"]


@dataclass(frozen=True)
class Anchor:
    """Where the node says the checkpoint was anchored. A claim only: the verifier checks the root
    at the trust root's contract, never at this address."""

    chain_id: int
    contract: str
    tx_hash: str
    block_number: int

    @classmethod
    def from_json(cls, obj: Any) -> Anchor:
        if not isinstance(obj, dict):
            raise _bad("bundle.anchor must be an object or null")
        missing = [f for f in ANCHOR_FIELDS if f not in obj]
        if missing:
            raise _bad(f"bundle.anchor is missing field(s): {', '.join(missing)}")
        chain_id = _uint64(obj, "chain_id", "bundle.anchor")
        block_number = _uint64(obj, "block_number", "bundle.anchor")
        contract, tx_hash = obj["contract"], obj["tx_hash"]
        if not (isinstance(contract, str) and _ADDRESS.fullmatch(contract)):
            raise _bad(f"bundle.anchor.contract is not a 0x address: {contract!r}")
        if not (isinstance(tx_hash, str) and _TX_HASH.fullmatch(tx_hash)):
            raise _bad(f"bundle.anchor.tx_hash is not a 0x transaction hash: {tx_hash!r}")
        return cls(chain_id=chain_id, contract=contract, tx_hash=tx_hash, block_number=block_number)

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "contract": self.contract,
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
        }


@dataclass(frozen=True)
class ProofBundle:
    """A record, its inclusion path to a checkpoint root, and where that root was anchored."""

    record: dict
    leaf_hash: bytes
    leaf_index: int
    tree_size: int
    inclusion_path: tuple[bytes, ...]
    root: bytes
    log_id: bytes
    anchor: Anchor | None

    @classmethod
    def from_json(cls, obj: Any) -> ProofBundle:
        """Parse the wire form; BundleError `bundle_malformed` or `record_malformed` if it is not one."""
        if not isinstance(obj, dict):
            raise _bad(f"bundle must be a JSON object, got {type(obj).__name__}")
        if obj.get("v") != BUNDLE_VERSION or isinstance(obj.get("v"), bool):
            raise _bad(f"bundle.v must be {BUNDLE_VERSION}, got {obj.get('v')!r}")
        missing = [f for f in BUNDLE_FIELDS if f not in obj]
        if missing:
            raise _bad(f"bundle is missing field(s): {', '.join(missing)}")
        record = obj["record"]
        try:
            validate_record(record)
        except RecordError as exc:
            raise BundleError("record_malformed", str(exc)) from exc
        leaf_index = _uint64(obj, "leaf_index")
        tree_size = _uint64(obj, "tree_size")
        if tree_size == 0:
            raise _bad("bundle.tree_size must be at least 1")
        path = obj["inclusion_path"]
        if not isinstance(path, list):
            raise _bad("bundle.inclusion_path must be a list of hex hashes")
        path_bytes = tuple(_hash(h, f"inclusion_path[{i}]") for i, h in enumerate(path))
        log_id = _hash(obj["log_id"], "log_id")
        if log_id != log_id_for_fonds(record["fonds"]):
            raise _bad(f"bundle.log_id is not the log of fonds {record['fonds']!r}")
        anchor = None if obj["anchor"] is None else Anchor.from_json(obj["anchor"])
        return cls(
            record=record,
            leaf_hash=_hash(obj["leaf_hash"], "leaf_hash"),
            leaf_index=leaf_index,
            tree_size=tree_size,
            inclusion_path=path_bytes,
            root=_hash(obj["root"], "root"),
            log_id=log_id,
            anchor=anchor,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "v": BUNDLE_VERSION,
            "record": self.record,
            "leaf_hash": self.leaf_hash.hex(),
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "inclusion_path": [h.hex() for h in self.inclusion_path],
            "root": self.root.hex(),
            "log_id": self.log_id.hex(),
            "anchor": None if self.anchor is None else self.anchor.to_json(),
        }


def _bad(message: str) -> BundleError:
    return BundleError(message)  # the default code: bundle_malformed


def _uint64(obj: dict, field: str, where: str = "bundle") -> int:
    value = obj[field]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _UINT64_MAX:
        raise _bad(f"{where}.{field} must be an unsigned 64-bit integer, got {value!r}")
    return value


def _hash(value: Any, field: str) -> bytes:
    if not (isinstance(value, str) and _HEX64.fullmatch(value)):
        raise _bad(f"bundle.{field} must be 64 lower-case hex characters, got {value!r}")
    return bytes.fromhex(value)
