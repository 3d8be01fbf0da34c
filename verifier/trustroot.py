"""The trust root: the one document an auditor pins, and everything the verifier trusts comes from.

It names the chain (id and genesis block hash), the archive's contracts, the verifier's Ed25519 keys
with their validity periods and the officers whose chain keys sign it. A proof bundle or a
certificate never chooses what it is checked against: the trust root does. A later version is
accepted only when the officers of the version already pinned signed it (like a TUF root rotation).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing
import rfc8785

from verifier.errors import TrustRootError, VerifierError
from verifier.ethsig import recover_personal_signer
from verifier.records import TIME_FORMAT, log_id_for_fonds

TRUST_ROOT_VERSION = 1
TRUST_ROOT_TYPE = "archive-ledger/trust-root"
SIGNING_PREFIX = b"archive-ledger trust root v1 "
CONTRACT_NAMES = ("ArchiveAnchor", "ArchiveRoles", "ReadPermits")
MIN_THRESHOLD = 2
MAX_DOCUMENT_BYTES = 1 << 20

_BODY_FIELDS = frozenset(
    {
        "type",
        "version",
        "previous_sha256",
        "issued_at",
        "archive",
        "fonds",
        "chain",
        "contracts",
        "verifier_keys",
        "officers",
        "threshold",
    }
)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_ADDRESS = re.compile(r"0x[0-9a-f]{40}")
_BLOCK_HASH = re.compile(r"0x[0-9a-f]{64}")
_ETH_SIG = re.compile(r"0x[0-9a-f]{130}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_URL = re.compile(r"https?://[^\s]+")

__all__ = [
    "TRUST_ROOT_VERSION",
    "Contract",
    "Fonds",
    "Officer",
    "TrustRoot",
    "VerifierKey",
    "assemble",
    "canonical_document_bytes",
    "check_trust_update",
    "format_trust_root",
    "load_trust_root",
    "load_trust_root_file",
    "officer_signature",
    "signing_message",
    "trust_root_sha256",
    "verifier_signature",
]


@dataclass(frozen=True)
class Fonds:
    code: str
    log_id: str
    audit_log_id: str


@dataclass(frozen=True)
class Contract:
    address: str
    deployed_block: int


@dataclass(frozen=True)
class VerifierKey:
    public_key: str
    valid_from: datetime
    valid_until: datetime | None

    def valid_at(self, when: datetime) -> bool:
        """valid_from <= when < valid_until: a key retired at T signed nothing valid from T on."""
        when = _aware(when)
        return self.valid_from <= when and (self.valid_until is None or when < self.valid_until)


@dataclass(frozen=True)
class Officer:
    role: str
    address: str


@dataclass(frozen=True)
class TrustRoot:
    """A trust root document that checked out alone (structure and signatures)."""

    version: int
    previous_sha256: str | None
    issued_at: datetime
    archive_name: str
    fonds: tuple[Fonds, ...]
    chain_id: int
    genesis_hash: str
    confirmations: int
    rpc_endpoints: tuple[str, ...]
    contracts: dict[str, Contract]
    verifier_keys: tuple[VerifierKey, ...]
    officers: tuple[Officer, ...]
    threshold: int
    sha256: str
    document: dict = field(repr=False, compare=False)
    officer_signers: tuple[str, ...] = ()  # listed officer addresses whose signatures verified

    @property
    def anchor_address(self) -> str:
        return self.contracts["ArchiveAnchor"].address

    @property
    def roles_address(self) -> str:
        return self.contracts["ArchiveRoles"].address

    @property
    def permits_address(self) -> str:
        return self.contracts["ReadPermits"].address

    def key_valid_at(self, public_key: str, when: datetime) -> bool:
        """True if the trust root lists `public_key` as a verifier key valid at `when`."""
        key = public_key.lower() if isinstance(public_key, str) else public_key
        return any(k.public_key == key and k.valid_at(when) for k in self.verifier_keys)

    def key_listed(self, public_key: str) -> bool:
        key = public_key.lower() if isinstance(public_key, str) else public_key
        return any(k.public_key == key for k in self.verifier_keys)


# -- digests and signing ----------------------------------------------------------------------------


def trust_root_sha256(body: dict) -> str:
    """Hex SHA-256 of the RFC 8785 bytes of the signed body."""
    return hashlib.sha256(_canonical(body)).hexdigest()


def signing_message(digest_hex: str) -> bytes:
    """What the verifier key and the officers sign: a fixed prefix and the body digest."""
    return SIGNING_PREFIX + digest_hex.encode("ascii")


def verifier_signature(body: dict, signing_key: nacl.signing.SigningKey) -> dict:
    message = signing_message(trust_root_sha256(body))
    return {
        "kind": "verifier",
        "public_key": bytes(signing_key.verify_key).hex(),
        "signature": signing_key.sign(message).signature.hex(),
    }


def officer_signature(role: str, address: str, signature_hex: str) -> dict:
    """An officer's entry; `signature_hex` is the 65-byte EIP-191 signature of signing_message(digest)."""
    sig = signature_hex.lower()
    return {"kind": "officer", "role": role, "address": address.lower(), "signature": "0x" + sig.removeprefix("0x")}


def assemble(body: dict, signatures: list[dict]) -> dict:
    return {"v": TRUST_ROOT_VERSION, "trust_root": body, "signatures": list(signatures)}


def canonical_document_bytes(doc: dict) -> bytes:
    """RFC 8785 bytes of the whole document: the file `trust export` writes and GET /trust serves."""
    return _canonical(doc)


def _canonical(value: dict) -> bytes:
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:  # a NaN, an integer beyond 2**53, a non-string key ...
        raise _bad(f"trust root has no canonical form: {exc}") from exc


# -- loading ------------------------------------------------------------------------------------------


def load_trust_root_file(path: str | os.PathLike[str]) -> TrustRoot:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise _bad(f"cannot read trust root {path}: {exc}") from exc
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise _bad(f"trust root {path} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise _bad(f"trust root {path} is not JSON: {exc}") from exc
    return load_trust_root(doc)


def load_trust_root(doc: Any) -> TrustRoot:
    """Parse and check a document alone: structure, every signature, the verifier key and the officers."""
    tr = _parse(doc)
    _check_signatures(tr, doc["signatures"])
    signers = _officer_signers(doc["signatures"], {o.address for o in tr.officers}, tr.officers)
    if len(signers) < tr.threshold:
        raise TrustRootError(
            "trust_root_bad_signature",
            f"trust root is signed by {len(signers)} listed officer(s), it needs {tr.threshold}",
        )
    verifier_keys = {
        s["public_key"]
        for s in doc["signatures"]
        if s["kind"] == "verifier" and tr.key_valid_at(s["public_key"], tr.issued_at)
    }
    if not verifier_keys:
        raise TrustRootError(
            "trust_root_bad_signature",
            f"trust root is not signed by a verifier key it lists as valid at its issue time {_fmt(tr.issued_at)}",
        )
    return _replace_signers(tr, tuple(sorted(signers)))


def check_trust_update(pinned: TrustRoot, newer: Any) -> TrustRoot:
    """Accept `newer` as the successor of the pinned trust root, or raise TrustRootError.

    It must check out alone, be a later version on the same chain (id and genesis), link to the
    pinned digest when it is the very next version, and carry signatures of at least pinned.threshold
    of the PINNED officers: officers cannot be replaced without the consent of those already trusted.
    """
    tr = newer if isinstance(newer, TrustRoot) else load_trust_root(newer)
    if tr.version <= pinned.version:
        raise TrustRootError(
            "trust_root_rollback",
            f"trust root version {tr.version} is not newer than the pinned version {pinned.version}",
        )
    if tr.chain_id != pinned.chain_id or tr.genesis_hash != pinned.genesis_hash:
        raise TrustRootError(
            "wrong_chain",
            f"trust root version {tr.version} is for chain {tr.chain_id} (genesis {tr.genesis_hash}), the pinned "
            f"one for chain {pinned.chain_id} (genesis {pinned.genesis_hash})",
        )
    if tr.version == pinned.version + 1 and tr.previous_sha256 != pinned.sha256:
        raise TrustRootError(
            "trust_root_unlinked",
            f"trust root version {tr.version} names previous {tr.previous_sha256}, the pinned one is {pinned.sha256}",
        )
    pinned_addresses = {o.address for o in pinned.officers}
    signers = _officer_signers(tr.document["signatures"], pinned_addresses, None)
    if len(signers) < pinned.threshold:
        raise TrustRootError(
            "trust_root_unlinked",
            f"trust root version {tr.version} is signed by {len(signers)} officer(s) of the pinned version "
            f"{pinned.version}, it needs {pinned.threshold}",
        )
    return tr


def format_trust_root(tr: TrustRoot) -> str:
    """Readable text for `trust show`."""
    lines = [
        f"trust root version {tr.version} of {tr.archive_name!r}, issued {_fmt(tr.issued_at)}",
        f"  sha256:        {tr.sha256}",
        f"  previous:      {tr.previous_sha256 or '-'}",
        f"  chain:         id {tr.chain_id}, genesis {tr.genesis_hash}, {tr.confirmations} confirmation(s)",
        "  rpc endpoints: " + (", ".join(tr.rpc_endpoints) or "-"),
        "  contracts:",
        *(f"    {name:<14} {c.address} (deployed in block {c.deployed_block})" for name, c in tr.contracts.items()),
        "  fonds:",
        *(f"    {f.code:<14} log {f.log_id}, audit log {f.audit_log_id}" for f in tr.fonds),
        "  verifier keys:",
        *(
            f"    {k.public_key} valid from {_fmt(k.valid_from)} "
            + (f"until {_fmt(k.valid_until)}" if k.valid_until else "(current)")
            for k in tr.verifier_keys
        ),
        f"  officers (threshold {tr.threshold}):",
        *(
            f"    {o.role:<17} {o.address}" + ("  signed" if o.address in tr.officer_signers else "")
            for o in tr.officers
        ),
    ]
    if not tr.fonds:
        lines.insert(lines.index("  verifier keys:"), "    -")
    return "\n".join(lines)


# -- internals ------------------------------------------------------------------------------------------


def _bad(message: str) -> TrustRootError:
    return TrustRootError(message)  # the default code: trust_root_malformed


def _parse(doc: Any) -> TrustRoot:
    if not isinstance(doc, dict):
        raise _bad(f"trust root must be a JSON object, got {type(doc).__name__}")
    if set(doc) != {"v", "trust_root", "signatures"}:
        raise _bad(f"trust root fields must be v, trust_root, signatures; got {sorted(doc)}")
    if doc["v"] != TRUST_ROOT_VERSION or isinstance(doc["v"], bool):
        raise _bad(f"unsupported trust root document version {doc['v']!r}")
    body = doc["trust_root"]
    if not isinstance(body, dict):
        raise _bad("trust_root must be a JSON object")
    if set(body) != _BODY_FIELDS:
        missing, extra = sorted(_BODY_FIELDS - set(body)), sorted(set(body) - _BODY_FIELDS)
        raise _bad(f"trust_root fields: missing {missing}, unexpected {extra}")
    if body["type"] != TRUST_ROOT_TYPE:
        raise _bad(f"trust_root.type must be {TRUST_ROOT_TYPE!r}, got {body['type']!r}")
    version = _int(body["version"], "trust_root.version", minimum=1)
    previous = body["previous_sha256"]
    if version == 1 and previous is not None:
        raise _bad("trust_root.previous_sha256 must be null in version 1")
    if version > 1 and not (isinstance(previous, str) and _HEX64.fullmatch(previous)):
        raise _bad("trust_root.previous_sha256 must be 64 lower-case hex characters after version 1")
    issued_at = _time(body["issued_at"], "trust_root.issued_at")

    archive = _object(body["archive"], "trust_root.archive", {"name"})
    archive_name = _text(archive["name"], "trust_root.archive.name")

    fonds = tuple(_fonds(f, i) for i, f in enumerate(_list(body["fonds"], "trust_root.fonds")))
    if len({f.code for f in fonds}) != len(fonds):
        raise _bad("trust_root.fonds lists a fonds code twice")

    chain = _object(body["chain"], "trust_root.chain", {"chain_id", "genesis_hash", "confirmations", "rpc_endpoints"})
    chain_id = _int(chain["chain_id"], "trust_root.chain.chain_id", minimum=1)
    genesis = chain["genesis_hash"]
    if not (isinstance(genesis, str) and _BLOCK_HASH.fullmatch(genesis)):
        raise _bad(f"trust_root.chain.genesis_hash must be 0x and 64 lower-case hex characters, got {genesis!r}")
    confirmations = _int(chain["confirmations"], "trust_root.chain.confirmations", minimum=1)
    endpoints = _list(chain["rpc_endpoints"], "trust_root.chain.rpc_endpoints")
    for i, url in enumerate(endpoints):
        if not (isinstance(url, str) and _URL.fullmatch(url)):
            raise _bad(f"trust_root.chain.rpc_endpoints[{i}] must be an http(s) URL, got {url!r}")

    contracts_obj = body["contracts"]
    if not isinstance(contracts_obj, dict) or set(contracts_obj) != set(CONTRACT_NAMES):
        raise _bad(f"trust_root.contracts must name exactly {', '.join(CONTRACT_NAMES)}")
    contracts = {name: _contract(contracts_obj[name], name) for name in CONTRACT_NAMES}

    keys = tuple(_verifier_key(k, i) for i, k in enumerate(_list(body["verifier_keys"], "trust_root.verifier_keys")))
    if not keys:
        raise _bad("trust_root.verifier_keys must list at least one key")
    if len({k.public_key for k in keys}) != len(keys):
        raise _bad("trust_root.verifier_keys lists a key twice")

    officers = tuple(_officer(o, i) for i, o in enumerate(_list(body["officers"], "trust_root.officers")))
    if len({o.address for o in officers}) != len(officers):
        raise _bad("trust_root.officers lists an address twice")
    threshold = _int(body["threshold"], "trust_root.threshold", minimum=MIN_THRESHOLD)
    if threshold > len(officers):
        raise _bad(f"trust_root.threshold {threshold} is more than the {len(officers)} officer(s) listed")

    signatures = _list(doc["signatures"], "signatures")
    for i, sig in enumerate(signatures):
        _check_signature_shape(sig, i)

    return TrustRoot(
        version=version,
        previous_sha256=previous,
        issued_at=issued_at,
        archive_name=archive_name,
        fonds=fonds,
        chain_id=chain_id,
        genesis_hash=genesis,
        confirmations=confirmations,
        rpc_endpoints=tuple(endpoints),
        contracts=contracts,
        verifier_keys=keys,
        officers=officers,
        threshold=threshold,
        sha256=trust_root_sha256(body),
        document=doc,
    )


def _check_signature_shape(sig: Any, i: int) -> None:
    where = f"signatures[{i}]"
    if not isinstance(sig, dict):
        raise _bad(f"{where} must be an object")
    kind = sig.get("kind")
    if kind == "verifier":
        _object(sig, where, {"kind", "public_key", "signature"})
        if not (isinstance(sig["public_key"], str) and _HEX64.fullmatch(sig["public_key"])):
            raise _bad(f"{where}.public_key must be 64 lower-case hex characters")
        if not (isinstance(sig["signature"], str) and _HEX128.fullmatch(sig["signature"])):
            raise _bad(f"{where}.signature must be 128 lower-case hex characters")
    elif kind == "officer":
        _object(sig, where, {"kind", "role", "address", "signature"})
        _text(sig["role"], f"{where}.role")
        if not (isinstance(sig["address"], str) and _ADDRESS.fullmatch(sig["address"])):
            raise _bad(f"{where}.address must be a lower-case 0x address")
        if not (isinstance(sig["signature"], str) and _ETH_SIG.fullmatch(sig["signature"])):
            raise _bad(f"{where}.signature must be 0x and 130 lower-case hex characters (r|s|v)")
    else:
        raise _bad(f"{where}.kind must be 'verifier' or 'officer', got {kind!r}")


def _check_signatures(tr: TrustRoot, signatures: list[dict]) -> None:
    """Every signature must verify: one broken signature makes the whole document invalid."""
    message = signing_message(tr.sha256)
    for i, sig in enumerate(signatures):
        if sig["kind"] == "verifier":
            try:
                nacl.signing.VerifyKey(bytes.fromhex(sig["public_key"])).verify(
                    message, bytes.fromhex(sig["signature"])
                )
            except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError) as exc:
                raise TrustRootError(
                    "trust_root_bad_signature",
                    f"signatures[{i}]: verifier key {sig['public_key']} signature does not verify",
                ) from exc
        else:
            try:
                signer = recover_personal_signer(message, sig["signature"])
            except VerifierError as exc:
                raise TrustRootError(
                    "trust_root_bad_signature",
                    f"signatures[{i}]: officer signature of {sig['address']} is invalid: {exc}",
                ) from exc
            if signer != sig["address"]:
                raise TrustRootError(
                    "trust_root_bad_signature",
                    f"signatures[{i}]: officer signature claims {sig['address']} but was made by {signer}",
                )


def _officer_signers(signatures: list[dict], addresses: set[str], officers: tuple[Officer, ...] | None) -> set[str]:
    """Distinct addresses among `addresses` that signed (signatures already verified); with `officers`,
    the signed role must be the one the document lists for that address."""
    roles = {o.address: o.role for o in officers} if officers is not None else None
    return {
        s["address"]
        for s in signatures
        if s["kind"] == "officer" and s["address"] in addresses and (roles is None or roles[s["address"]] == s["role"])
    }


def _replace_signers(tr: TrustRoot, signers: tuple[str, ...]) -> TrustRoot:
    from dataclasses import replace

    return replace(tr, officer_signers=signers)


def _object(value: Any, where: str, fields: set[str]) -> dict:
    if not isinstance(value, dict):
        raise _bad(f"{where} must be an object")
    if set(value) != fields:
        raise _bad(f"{where} fields must be {', '.join(sorted(fields))}; got {', '.join(sorted(value))}")
    return value


def _list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise _bad(f"{where} must be a list")
    return value


def _int(value: Any, where: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum or value > 2**53 - 1:
        raise _bad(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{where} must be a non-empty string")
    return value


def _time(value: Any, where: str) -> datetime:
    if not (isinstance(value, str) and _TIME.fullmatch(value)):
        raise _bad(f"{where} must look like 2026-11-29T17:00:00Z, got {value!r}")
    try:
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise _bad(f"{where} is not a valid date and time: {value!r}") from exc


def _fonds(value: Any, i: int) -> Fonds:
    where = f"trust_root.fonds[{i}]"
    obj = _object(value, where, {"code", "log_id", "audit_log_id"})
    code = _text(obj["code"], f"{where}.code")
    for name in ("log_id", "audit_log_id"):
        if not (isinstance(obj[name], str) and _HEX64.fullmatch(obj[name])):
            raise _bad(f"{where}.{name} must be 64 lower-case hex characters")
    if obj["log_id"] != log_id_for_fonds(code).hex():  # (_text refused what log_id_for_fonds would)
        raise _bad(f"{where}.log_id is not the log id of fonds {code!r}")
    return Fonds(code, obj["log_id"], obj["audit_log_id"])


def _contract(value: Any, name: str) -> Contract:
    where = f"trust_root.contracts.{name}"
    obj = _object(value, where, {"address", "deployed_block"})
    if not (isinstance(obj["address"], str) and _ADDRESS.fullmatch(obj["address"])):
        raise _bad(f"{where}.address must be a lower-case 0x address, got {obj['address']!r}")
    return Contract(obj["address"], _int(obj["deployed_block"], f"{where}.deployed_block"))


def _verifier_key(value: Any, i: int) -> VerifierKey:
    where = f"trust_root.verifier_keys[{i}]"
    obj = _object(value, where, {"public_key", "valid_from", "valid_until"})
    if not (isinstance(obj["public_key"], str) and _HEX64.fullmatch(obj["public_key"])):
        raise _bad(f"{where}.public_key must be 64 lower-case hex characters")
    valid_from = _time(obj["valid_from"], f"{where}.valid_from")
    valid_until = None if obj["valid_until"] is None else _time(obj["valid_until"], f"{where}.valid_until")
    if valid_until is not None and valid_until <= valid_from:
        raise _bad(f"{where}: valid_until is not after valid_from")
    return VerifierKey(obj["public_key"], valid_from, valid_until)


def _officer(value: Any, i: int) -> Officer:
    where = f"trust_root.officers[{i}]"
    obj = _object(value, where, {"role", "address"})
    role = _text(obj["role"], f"{where}.role")
    if not (isinstance(obj["address"], str) and _ADDRESS.fullmatch(obj["address"])):
        raise _bad(f"{where}.address must be a lower-case 0x address, got {obj['address']!r}")
    return Officer(role, obj["address"])


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _fmt(when: datetime) -> str:
    return when.astimezone(UTC).strftime(TIME_FORMAT)
