"""Records: the provable events of the log, their canonical bytes and leaf hashes. Pure.

A record's bytes are RFC 8785 canonical JSON, so the node, the verifier and any third party derive
the same leaf hash from the same JSON object, whatever its key order or whitespace.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

import rfc8785

from verifier.errors import RecordError
from verifier.merkle import leaf_hash

RECORD_VERSION = 1
LOG_ID_PREFIX = b"archive-ledger/log/v1/"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_SAFE_INT = 2**53 - 1  # RFC 8785 numbers are IEEE doubles

RECORD_FIELDS = (
    "v",
    "type",
    "fonds",
    "item_id",
    "content_sha256",
    "size",
    "metadata_sha256",
    "time",
    "nonce",
)
# Optional: present only when the record carries it. checks_sha256 = SHA-256 of the RFC 8785 bytes of
# the item's four-properties check report at filing (node/checks/model.py ItemReport.digest()).
OPTIONAL_FIELDS = ("checks_sha256",)

_TYPE_RE = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*")
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_HEX_LENGTHS = {"item_id": 32, "content_sha256": 64, "metadata_sha256": 64, "nonce": 32}
_OPTIONAL_HEX_LENGTHS = {"checks_sha256": 64}

__all__ = [
    "OPTIONAL_FIELDS",
    "RECORD_FIELDS",
    "canonical_bytes",
    "format_time",
    "log_id_for_fonds",
    "metadata_digest",
    "new_record",
    "record_leaf_hash",
    "validate_record",
]


def canonical_bytes(obj: Any) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON value; RecordError if it has no canonical form."""
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as exc:
        raise RecordError(f"value cannot be canonicalised as RFC 8785 JSON: {exc}") from exc


def record_leaf_hash(record: dict) -> bytes:
    """Leaf hash of a record: SHA-256(0x00 || canonical bytes)."""
    return leaf_hash(canonical_bytes(record))


def log_id_for_fonds(code: str) -> bytes:
    """bytes32 log id of a fonds: SHA-256(b"archive-ledger/log/v1/" + code in UTF-8)."""
    if not isinstance(code, str) or not code:
        raise RecordError(f"fonds code must be a non-empty string, got {code!r}")
    return hashlib.sha256(LOG_ID_PREFIX + code.encode("utf-8")).digest()


def metadata_digest(metadata: dict) -> str:
    """Hex SHA-256 of the canonical bytes of `metadata` with every string NFC-normalised.

    Normalising first means the same title typed with composed or decomposed accents gives one digest.
    """
    if not isinstance(metadata, dict):
        raise RecordError(f"metadata must be a JSON object, got {type(metadata).__name__}")
    return hashlib.sha256(canonical_bytes(_nfc(metadata))).hexdigest()


def format_time(time: datetime) -> str:
    """UTC, seconds precision: "YYYY-MM-DDTHH:MM:SSZ". Naive datetimes are refused as ambiguous."""
    if not isinstance(time, datetime) or time.utcoffset() is None:  # (None for a naive time too)
        raise RecordError("time must be a timezone-aware datetime")
    return time.astimezone(UTC).strftime(TIME_FORMAT)


def new_record(
    type: str,
    fonds: str,
    item_id: str,
    content_sha256: str,
    size: int,
    metadata_sha256: str,
    time: datetime,
    nonce: bytes | None = None,
    checks_sha256: str | None = None,
) -> dict:
    """Build and validate a v1 record; the nonce is 16 fresh random bytes unless given.
    `checks_sha256` (the digest of the item's check report) is included only when given."""
    if nonce is None:
        nonce = os.urandom(16)
    if not isinstance(nonce, bytes) or len(nonce) != 16:
        raise RecordError("nonce must be 16 bytes")
    record = {
        "v": RECORD_VERSION,
        "type": type,
        "fonds": fonds,
        "item_id": item_id,
        "content_sha256": content_sha256,
        "size": size,
        "metadata_sha256": metadata_sha256,
        "time": format_time(time),
        "nonce": nonce.hex(),
    }
    if checks_sha256 is not None:
        record["checks_sha256"] = checks_sha256
    validate_record(record)
    return record


def validate_record(record: Any) -> None:
    """Raise RecordError naming the first problem if `record` is not a well-formed v1 record."""
    if not isinstance(record, dict):
        raise RecordError(f"record must be a JSON object, got {type(record).__name__}")
    missing = [f for f in RECORD_FIELDS if f not in record]
    if missing:
        raise RecordError(f"record is missing field(s): {', '.join(missing)}")
    extra = sorted(str(k) for k in record if k not in RECORD_FIELDS and k not in OPTIONAL_FIELDS)
    if extra:
        raise RecordError(f"record has unexpected field(s): {', '.join(extra)}")
    v = record["v"]
    if not _is_int(v) or v != RECORD_VERSION:
        raise RecordError(f"record.v must be {RECORD_VERSION}, got {v!r}")
    for name in ("type", "fonds", "time"):
        if not isinstance(record[name], str) or not record[name]:
            raise RecordError(f"record.{name} must be a non-empty string, got {record[name]!r}")
    if not _TYPE_RE.fullmatch(record["type"]):
        raise RecordError(f"record.type must be a dotted lower-case name, got {record['type']!r}")
    for name, length in _HEX_LENGTHS.items():
        _check_hex(name, record[name], length)
    for name, length in _OPTIONAL_HEX_LENGTHS.items():
        if name in record:
            _check_hex(name, record[name], length)
    size = record["size"]
    if not _is_int(size) or not 0 <= size <= MAX_SAFE_INT:
        raise RecordError(f"record.size must be an integer in [0, 2**53 - 1], got {size!r}")
    _check_time(record["time"])


def _check_hex(name: str, value: Any, length: int) -> None:
    if not isinstance(value, str):
        raise RecordError(f"record.{name} must be a hex string, got {type(value).__name__}")
    if len(value) != length or not re.fullmatch(r"[0-9a-f]*", value):
        raise RecordError(f"record.{name} must be {length} lower-case hex characters, got {value!r}")


def _check_time(value: str) -> None:
    if not _TIME_RE.fullmatch(value):
        raise RecordError(f"record.time must look like 2026-11-25T08:00:00Z, got {value!r}")
    try:
        datetime.strptime(value, TIME_FORMAT)
    except ValueError as exc:
        raise RecordError(f"record.time is not a valid date and time: {value!r}") from exc


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            nkey = _nfc(key)
            if nkey in out:
                raise RecordError(f"metadata keys collide after NFC normalisation: {nkey!r}")
            out[nkey] = _nfc(item)
        return out
    if isinstance(value, list | tuple):
        return [_nfc(item) for item in value]
    return value
