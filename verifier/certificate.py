"""Signed verification certificates (Ed25519 over RFC 8785 bytes) and signing-key files.

A certificate lets a third party keep the outcome of a verification and check later, with this
package alone, who issued it and that nothing in it was changed. Whose key counts is decided by the
pinned trust root (its verifier keys and their validity periods), never by the certificate or the
node: a certificate verifies when its key is listed and was valid at the certificate's issue time, so
rotating the key does not invalidate certificates issued before.
"""

from __future__ import annotations

import copy
import os
import re
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing

from verifier.errors import CertificateError, RecordError
from verifier.records import TIME_FORMAT, canonical_bytes, format_time
from verifier.trustroot import TrustRoot
from verifier.verify import VerificationResult

CERTIFICATE_VERSION = 1
_BUNDLE_SUMMARY_FIELDS = ("record", "log_id", "leaf_index", "tree_size", "root", "anchor")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

__all__ = [
    "generate_signing_key",
    "issue_certificate",
    "load_signing_key",
    "public_key_hex",
    "save_signing_key",
    "verify_certificate",
]


def issue_certificate(
    result: VerificationResult,
    bundle: dict,
    signing_key: nacl.signing.SigningKey,
    issued_at: datetime,
    issuer: str,
    *,
    trust_root_sha256: str,
    extra: dict[str, Any] | None = None,
) -> dict:
    """Sign the result, a summary of the bundle it is about, the time, the issuer and the digest of
    the trust root it was issued under.

    `extra` adds sections to the payload, covered by the same signature (e.g. `"permit"`: the read
    permit a loan certificate is about); they may not replace a section of the verification."""
    if not isinstance(issuer, str) or not issuer:
        raise CertificateError("issuer must be a non-empty string")  # certificate_malformed
    if not (isinstance(trust_root_sha256, str) and _HEX64.fullmatch(trust_root_sha256)):
        raise CertificateError("trust_root_sha256 must be 64 lower-case hex characters")
    source = bundle if isinstance(bundle, dict) else {}
    try:
        # A copy: the certificate must not alias the caller's bundle (editing one would change the other).
        payload: dict[str, Any] = {
            **result.to_dict(),
            "bundle": copy.deepcopy({k: source.get(k) for k in _BUNDLE_SUMMARY_FIELDS}),
            "issued_at": format_time(issued_at),
            "issuer": issuer,
            "trust_root_sha256": trust_root_sha256,
        }
        for key, value in (extra or {}).items():
            if key in payload:
                raise CertificateError(f"extra section {key!r} would replace a section of the certificate")
            payload[key] = value
        message = canonical_bytes(payload)
    except RecordError as exc:
        raise CertificateError(f"cannot issue certificate: {exc}") from exc
    signature = signing_key.sign(message).signature
    return {
        "v": CERTIFICATE_VERSION,
        "payload": payload,
        "public_key": public_key_hex(signing_key),
        "signature": signature.hex(),
    }


def verify_certificate(cert: dict, trust: TrustRoot | None) -> dict:
    """Return the payload if the certificate checks out against the pinned trust root.

    CertificateError reason codes: `no_trust_root` (trust is None: anyone can sign with their own key,
    so nothing can be accepted), `certificate_malformed`, `key_untrusted` (the key is not one of the
    trust root's verifier keys), `bad_signature` (the payload or key was altered),
    `key_not_valid_at_issue` (payload.issued_at is outside the key's [valid_from, valid_until)).
    """
    if trust is None:
        raise CertificateError(
            "no_trust_root", "no trust root given: the keys allowed to sign certificates are unknown"
        )
    if not isinstance(trust, TrustRoot):
        raise TypeError("trust must be a TrustRoot (verifier.trustroot.load_trust_root) or None")

    def bad(message: str) -> CertificateError:
        return CertificateError(message)  # the default code: certificate_malformed

    if not isinstance(cert, dict):
        raise bad("certificate must be a JSON object")
    if set(cert) != {"v", "payload", "public_key", "signature"}:
        raise bad(f"certificate fields must be v, payload, public_key, signature; got {sorted(cert)}")
    if cert["v"] != CERTIFICATE_VERSION or isinstance(cert["v"], bool):
        raise bad(f"unsupported certificate version {cert['v']!r}")
    payload, public_key, signature = cert["payload"], cert["public_key"], cert["signature"]
    if not isinstance(payload, dict):
        raise bad("certificate payload must be a JSON object")
    if not (isinstance(public_key, str) and _HEX64.fullmatch(public_key)):
        raise bad("certificate public_key must be 64 lower-case hex characters")
    if not (isinstance(signature, str) and _HEX128.fullmatch(signature)):
        raise bad("certificate signature must be 128 lower-case hex characters")
    try:
        message = canonical_bytes(payload)
    except RecordError as exc:
        raise bad(f"certificate payload is not canonical JSON: {exc}") from exc
    issued_at = payload.get("issued_at")
    if not (isinstance(issued_at, str) and _TIME.fullmatch(issued_at)):
        raise bad(f"certificate payload.issued_at must look like 2026-11-25T09:30:00Z, got {issued_at!r}")
    try:
        when = datetime.strptime(issued_at, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise bad(f"certificate payload.issued_at is not a valid time: {issued_at!r}") from exc
    digest = payload.get("trust_root_sha256")
    if not (isinstance(digest, str) and _HEX64.fullmatch(digest)):
        raise bad("certificate payload.trust_root_sha256 must be 64 lower-case hex characters")
    if not trust.key_listed(public_key):
        raise CertificateError(
            "key_untrusted",
            f"certificate is signed by {public_key}, which is not a verifier key of trust root version "
            f"{trust.version} ({trust.sha256})",
        )
    try:
        nacl.signing.VerifyKey(bytes.fromhex(public_key)).verify(message, bytes.fromhex(signature))
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError) as exc:
        raise CertificateError(
            "bad_signature", "certificate signature does not verify: the payload was altered"
        ) from exc
    if not trust.key_valid_at(public_key, when):
        # A trust root lists a key once (load_trust_root refuses duplicates), and key_listed found it above.
        k = next(k for k in trust.verifier_keys if k.public_key == public_key)
        period = f"{format_time(k.valid_from)} to {format_time(k.valid_until) if k.valid_until else 'now'}"
        raise CertificateError(
            "key_not_valid_at_issue",
            f"certificate was issued at {issued_at}, outside the validity of key {public_key} ({period})",
        )
    return payload


def generate_signing_key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey.generate()


def public_key_hex(signing_key: nacl.signing.SigningKey) -> str:
    return bytes(signing_key.verify_key).hex()


def save_signing_key(
    signing_key: nacl.signing.SigningKey, path: str | os.PathLike[str], *, overwrite: bool = False
) -> None:
    """Write the 32-byte seed as hex to a file created with mode 0600 (never world-readable, even briefly)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise CertificateError(f"refusing to overwrite existing key file {path}") from exc
    with os.fdopen(fd, "w", encoding="ascii") as f:
        os.fchmod(f.fileno(), 0o600)  # O_TRUNC on an existing file keeps its old mode
        f.write(bytes(signing_key).hex() + "\n")


def load_signing_key(path: str | os.PathLike[str]) -> nacl.signing.SigningKey:
    """Read a key file written by save_signing_key; refuse it if group or others have any access."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError as exc:
        raise CertificateError(f"key file {path} does not exist") from exc
    if mode & 0o077:
        raise CertificateError(
            f"key file {path} is accessible by group/others (mode {mode:04o}); run: chmod 600 {path}"
        )
    text = Path(path).read_text(encoding="ascii", errors="replace").strip()
    if not _HEX64.fullmatch(text):
        raise CertificateError(f"key file {path} does not hold a 64-hex-character Ed25519 seed")
    return nacl.signing.SigningKey(bytes.fromhex(text))
