"""verifier.certificate: issuing, verifying, tampering, trust, and key files."""

from __future__ import annotations

import copy
import json
import os
import stat
from datetime import UTC, datetime

import nacl.signing
import pytest

from tests.helpers.trust_builders import TrustKit
from verifier import certificate as cert_mod
from verifier.errors import CertificateError, VerifierError
from verifier.records import canonical_bytes
from verifier.trustroot import TrustRoot, load_trust_root
from verifier.verify import StepResult, VerificationResult

NOW = datetime(2026, 11, 25, 9, 30, 0, tzinfo=UTC)
BUNDLE = {
    "v": 1,
    "record": {"v": 1, "type": "item.ingested", "fonds": "Z001", "size": 3},
    "leaf_hash": "11" * 32,
    "leaf_index": 3,
    "tree_size": 7,
    "inclusion_path": ["22" * 32],
    "root": "33" * 32,
    "log_id": "44" * 32,
    "anchor": {"chain_id": 1337, "contract": "0x" + "ab" * 20, "tx_hash": "0x" + "55" * 32, "block_number": 12},
}


def result(outcome: str = "authentic") -> VerificationResult:
    steps = tuple(StepResult(n, True, None, f"{n} ok") for n in ("content_hash", "record", "inclusion", "chain"))
    return VerificationResult(outcome, steps, None, None, "all good")  # type: ignore[arg-type]


DIGEST = "66" * 32  # the trust root a certificate says it was issued under


def trust_for(*keys: nacl.signing.SigningKey, periods: dict[int, tuple[str, str | None]] | None = None) -> TrustRoot:
    """A trust root listing `keys` (by default valid from 2026-01-01 on), signed by the first current one."""
    kit = TrustKit(verifier_key=keys[0])
    body = kit.body()
    body["verifier_keys"] = [
        {
            "public_key": cert_mod.public_key_hex(k),
            "valid_from": (periods or {}).get(i, ("2026-01-01T00:00:00Z", None))[0],
            "valid_until": (periods or {}).get(i, ("2026-01-01T00:00:00Z", None))[1],
        }
        for i, k in enumerate(keys)
    ]
    signer = next(k for i, k in enumerate(keys) if (periods or {}).get(i, ("", None))[1] is None)
    return load_trust_root(kit.document(body, verifier=signer))


@pytest.fixture
def key():
    return cert_mod.generate_signing_key()


@pytest.fixture
def trust(key) -> TrustRoot:
    return trust_for(key)


def issue(key, res: VerificationResult | None = None) -> dict:
    return cert_mod.issue_certificate(res or result(), BUNDLE, key, NOW, "Archive of Z001", trust_root_sha256=DIGEST)


def reason(cert, trust) -> str:
    with pytest.raises(CertificateError) as info:
        cert_mod.verify_certificate(cert, trust)
    return info.value.reason_code


def test_issue_and_verify(key, trust) -> None:
    cert = issue(key)
    assert set(cert) == {"v", "payload", "public_key", "signature"}
    assert cert["v"] == 1
    assert cert["public_key"] == cert_mod.public_key_hex(key)
    payload = cert_mod.verify_certificate(cert, trust)
    assert payload["trust_root_sha256"] == DIGEST
    assert payload["outcome"] == "authentic"
    assert payload["exit_code"] == 0
    assert payload["issued_at"] == "2026-11-25T09:30:00Z"
    assert payload["issuer"] == "Archive of Z001"
    assert payload["bundle"] == {
        k: BUNDLE[k] for k in ("record", "log_id", "leaf_index", "tree_size", "root", "anchor")
    }
    assert len(payload["steps"]) == 4


def test_certificate_survives_json_round_trip(key, trust) -> None:
    cert = json.loads(json.dumps(issue(key), indent=2, sort_keys=False))
    cert_mod.verify_certificate(cert, trust)


def test_signature_is_over_rfc8785_payload(key) -> None:
    cert = issue(key)
    key.verify_key.verify(canonical_bytes(cert["payload"]), bytes.fromhex(cert["signature"]))


def test_not_authentic_results_are_certified_too(key, trust) -> None:
    steps = (
        StepResult("content_hash", False, "content_mismatch", "differs"),
        StepResult("record", None, None, "not run"),
        StepResult("inclusion", None, None, "not run"),
        StepResult("chain", None, None, "not run"),
    )
    res = VerificationResult("not_authentic", steps, "content_hash", "content_mismatch", "differs")
    payload = cert_mod.verify_certificate(issue(key, res), trust)
    assert (payload["outcome"], payload["reason_code"], payload["exit_code"]) == (
        "not_authentic",
        "content_mismatch",
        1,
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: p.update(outcome="not_authentic"),
        lambda p: p.update(issuer="Someone else"),
        lambda p: p.update(issued_at="2030-01-01T00:00:00Z"),
        lambda p: p["bundle"].update(root="00" * 32),
        lambda p: p["bundle"]["record"].update(size=4),
        lambda p: p["steps"][0].update(ok=False),
        lambda p: p.update(extra=1),
        lambda p: p.update(trust_root_sha256="77" * 32),
    ],
)
def test_tampered_payload_is_rejected(key, trust, tamper) -> None:
    cert = issue(key)
    tamper(cert["payload"])
    with pytest.raises(CertificateError, match="does not verify") as info:
        cert_mod.verify_certificate(cert, trust)
    assert info.value.reason_code == "bad_signature"


def test_tampered_signature_is_rejected(key, trust) -> None:
    cert = issue(key)
    sig = bytearray(bytes.fromhex(cert["signature"]))
    sig[0] ^= 1
    cert["signature"] = sig.hex()
    with pytest.raises(CertificateError):
        cert_mod.verify_certificate(cert, trust)
    assert reason(cert, trust) == "bad_signature"


def test_wrong_key(key) -> None:
    other = cert_mod.generate_signing_key()
    cert = issue(key)
    with pytest.raises(CertificateError, match="not a verifier key") as info:
        cert_mod.verify_certificate(cert, trust_for(other))
    assert info.value.reason_code == "key_untrusted"
    # Swapping in another public key breaks the signature (both keys trusted).
    swapped = copy.deepcopy(cert)
    swapped["public_key"] = cert_mod.public_key_hex(other)
    with pytest.raises(CertificateError, match="does not verify") as info:
        cert_mod.verify_certificate(swapped, trust_for(key, other))
    assert info.value.reason_code == "bad_signature"
    # A certificate re-signed by someone else is self-consistent but not trusted.
    forged = cert_mod.issue_certificate(result(), BUNDLE, other, NOW, "Archive of Z001", trust_root_sha256=DIGEST)
    cert_mod.verify_certificate(forged, trust_for(other))
    with pytest.raises(CertificateError, match="not a verifier key") as info:
        cert_mod.verify_certificate(forged, trust_for(key))
    assert info.value.reason_code == "key_untrusted"


def test_trusted_key_is_case_insensitive(key, trust) -> None:
    assert trust.key_listed(cert_mod.public_key_hex(key).upper())
    assert trust.key_valid_at(cert_mod.public_key_hex(key).upper(), NOW)
    cert_mod.verify_certificate(issue(key), trust)


def test_no_trust_root(key) -> None:
    with pytest.raises(CertificateError, match="no trust root") as info:
        cert_mod.verify_certificate(issue(key), None)
    assert info.value.reason_code == "no_trust_root"
    with pytest.raises(TypeError):
        cert_mod.verify_certificate(issue(key), cert_mod.public_key_hex(key))  # type: ignore[arg-type]


def test_key_retired_before_the_issue_time(key) -> None:
    current = cert_mod.generate_signing_key()
    trust = trust_for(key, current, periods={0: ("2026-01-01T00:00:00Z", "2026-11-25T09:30:00Z")})
    with pytest.raises(CertificateError, match="outside the validity") as info:
        cert_mod.verify_certificate(issue(key), trust)  # issued exactly when the key was retired
    assert info.value.reason_code == "key_not_valid_at_issue"


def test_key_not_yet_valid_at_the_issue_time(key) -> None:
    trust = trust_for(key, periods={0: ("2026-11-25T09:30:01Z", None)})
    assert reason(issue(key), trust) == "key_not_valid_at_issue"


def test_rotation_keeps_old_certificates_valid(key) -> None:
    """A key retired after the certificate was issued still vouches for it."""
    new = cert_mod.generate_signing_key()
    rotated = trust_for(key, new, periods={0: ("2026-01-01T00:00:00Z", "2026-11-29T17:00:00Z"),
                                           1: ("2026-11-29T17:00:00Z", None)})  # fmt: skip
    assert cert_mod.verify_certificate(issue(key), rotated)["issuer"] == "Archive of Z001"
    later = cert_mod.issue_certificate(
        result(), BUNDLE, key, datetime(2026, 12, 1, tzinfo=UTC), "Archive of Z001", trust_root_sha256=DIGEST
    )
    assert reason(later, rotated) == "key_not_valid_at_issue"  # the retired key signs nothing new


@pytest.mark.parametrize(
    "payload_change",
    [
        lambda p: p.pop("issued_at"),
        lambda p: p.update(issued_at="yesterday"),
        lambda p: p.update(issued_at="2026-13-45T99:00:00Z"),
        lambda p: p.pop("trust_root_sha256"),
        lambda p: p.update(trust_root_sha256="XY"),
    ],
)
def test_payload_without_usable_time_or_digest(key, trust, payload_change) -> None:
    payload = issue(key)["payload"]
    payload_change(payload)
    cert = {"v": 1, "payload": payload, "public_key": cert_mod.public_key_hex(key),
            "signature": key.sign(canonical_bytes(payload)).signature.hex()}  # fmt: skip
    assert reason(cert, trust) == "certificate_malformed"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c.pop("signature"),
        lambda c: c.update(extra=1),
        lambda c: c.update(v=2),
        lambda c: c.update(v=True),
        lambda c: c.update(payload="text"),
        lambda c: c.update(public_key="zz"),
        lambda c: c.update(signature=c["signature"][:-2]),
        lambda c: c.update(signature=c["signature"].upper()),
        lambda c: c["payload"].update(ratio=float("nan")),
    ],
)
def test_malformed_certificates(key, trust, mangle) -> None:
    cert = issue(key)
    mangle(cert)
    with pytest.raises(CertificateError):
        cert_mod.verify_certificate(cert, trust)
    assert reason(cert, trust) == "certificate_malformed"


def test_not_a_certificate(trust) -> None:
    with pytest.raises(CertificateError):
        cert_mod.verify_certificate([], trust)  # type: ignore[arg-type]
    assert reason([], trust) == "certificate_malformed"


def test_issue_rejects_naive_time_and_empty_issuer(key) -> None:
    with pytest.raises(CertificateError):
        cert_mod.issue_certificate(result(), BUNDLE, key, datetime(2026, 1, 1), "x", trust_root_sha256=DIGEST)
    with pytest.raises(CertificateError):
        cert_mod.issue_certificate(result(), BUNDLE, key, NOW, "", trust_root_sha256=DIGEST)
    with pytest.raises(CertificateError):
        cert_mod.issue_certificate(result(), BUNDLE, key, NOW, "x", trust_root_sha256="not a digest")


def test_certificate_error_is_a_verifier_error() -> None:
    assert issubclass(CertificateError, VerifierError)


# -- key files ----------------------------------------------------------------------------------------


def test_save_and_load_key(tmp_path, key) -> None:
    path = tmp_path / "signing.key"
    old = os.umask(0)
    try:
        cert_mod.save_signing_key(key, path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = cert_mod.load_signing_key(path)
    assert bytes(loaded) == bytes(key)


def test_save_refuses_to_overwrite_unless_asked(tmp_path, key) -> None:
    path = tmp_path / "signing.key"
    cert_mod.save_signing_key(key, path)
    other = cert_mod.generate_signing_key()
    with pytest.raises(CertificateError, match="overwrite"):
        cert_mod.save_signing_key(other, path)
    path.chmod(0o644)
    cert_mod.save_signing_key(other, path, overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert bytes(cert_mod.load_signing_key(path)) == bytes(other)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o620, 0o601])
def test_load_refuses_group_or_world_access(tmp_path, key, mode: int) -> None:
    path = tmp_path / "signing.key"
    cert_mod.save_signing_key(key, path)
    path.chmod(mode)
    with pytest.raises(CertificateError, match="chmod 600"):
        cert_mod.load_signing_key(path)


def test_load_rejects_missing_and_garbage(tmp_path) -> None:
    with pytest.raises(CertificateError, match="does not exist"):
        cert_mod.load_signing_key(tmp_path / "nope")
    path = tmp_path / "garbage.key"
    path.write_text("hello")
    path.chmod(0o600)
    with pytest.raises(CertificateError, match="seed"):
        cert_mod.load_signing_key(path)


def test_load_rejects_non_ascii_key_file_as_not_a_seed(tmp_path) -> None:
    path = tmp_path / "binary.key"
    path.write_bytes(b"\xff\xfe" + b"ab" * 31)  # 64 characters, two of them not ASCII
    path.chmod(0o600)
    with pytest.raises(CertificateError, match="does not hold a 64-hex-character Ed25519 seed"):
        cert_mod.load_signing_key(path)


def test_extra_sections_are_signed_and_cannot_shadow_the_verification(key, trust) -> None:
    permit = {"permit_id": "ab" * 32, "approver": "0x" + "12" * 20, "tx_hash": "0x" + "34" * 32}
    cert = cert_mod.issue_certificate(
        result(), BUNDLE, key, NOW, "node", trust_root_sha256=DIGEST, extra={"permit": permit}
    )
    assert cert_mod.verify_certificate(cert, trust)["permit"] == permit
    forged = copy.deepcopy(cert)
    forged["payload"]["permit"]["approver"] = "0x" + "66" * 20
    with pytest.raises(CertificateError):
        cert_mod.verify_certificate(forged, trust)
    with pytest.raises(CertificateError):
        cert_mod.issue_certificate(
            result(), BUNDLE, key, NOW, "node", trust_root_sha256=DIGEST, extra={"outcome": "authentic"}
        )
    with pytest.raises(CertificateError):
        cert_mod.issue_certificate(
            result(), BUNDLE, key, NOW, "node", trust_root_sha256=DIGEST, extra={"trust_root_sha256": "00" * 32}
        )


# -- what the messages say (a user reads them to find what is wrong) ------------------------------------------


def _resign(cert: dict, key) -> dict:  # type: ignore[no-untyped-def]
    cert["signature"] = key.sign(canonical_bytes(cert["payload"])).signature.hex()
    return cert


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c, k: [1], "certificate must be a JSON object"),
        (lambda c, k: {**c, "payload": []}, "certificate payload must be a JSON object"),
        (lambda c, k: {**c, "public_key": c["public_key"].upper()},
         "certificate public_key must be 64 lower-case hex characters"),
        (lambda c, k: {**c, "signature": c["signature"][:-2]},
         "certificate signature must be 128 lower-case hex characters"),
        (lambda c, k: _resign({**c, "payload": {**c["payload"], "trust_root_sha256": "AB" * 32}}, k),
         "certificate payload.trust_root_sha256 must be 64 lower-case hex characters"),
        (lambda c, k: _resign({**c, "payload": {**c["payload"], "issued_at": "2026-02-30T00:00:00Z"}}, k),
         "certificate payload.issued_at is not a valid time: '2026-02-30T00:00:00Z'"),
        (lambda c, k: {**c, "payload": {**c["payload"], "issuer": "someone else"}},
         "certificate signature does not verify: the payload was altered"),
        (lambda c, k: {**c, "note": 1},
         "certificate fields must be v, payload, public_key, signature; got ['note', 'payload', 'public_key', "
         "'signature', 'v']"),
        (lambda c, k: {**c, "v": 2}, "unsupported certificate version 2"),
        (lambda c, k: {**c, "v": True}, "unsupported certificate version True"),
        (lambda c, k: _resign({**c, "payload": {**c["payload"], "issued_at": "2026-11-25 09:30:00"}}, k),
         "certificate payload.issued_at must look like 2026-11-25T09:30:00Z, got '2026-11-25 09:30:00'"),
    ],
)  # fmt: skip
def test_rejection_messages(key, trust, change, message: str) -> None:  # type: ignore[no-untyped-def]
    cert = change(issue(key), key)
    with pytest.raises(CertificateError) as info:
        cert_mod.verify_certificate(cert, trust)
    assert info.value.message == message


def test_no_trust_root_and_wrong_trust_type_messages(key) -> None:
    with pytest.raises(CertificateError) as info:
        cert_mod.verify_certificate(issue(key), None)
    assert info.value.message == "no trust root given: the keys allowed to sign certificates are unknown"
    with pytest.raises(TypeError, match=r"^trust must be a TrustRoot \(verifier.trustroot.load_trust_root\) or None$"):
        cert_mod.verify_certificate(issue(key), {"trust_root": {}})  # type: ignore[arg-type]


def test_key_validity_message_lists_the_keys_periods(key) -> None:
    trust = trust_for(key, periods={0: ("2026-11-25T09:30:01Z", None)})
    with pytest.raises(CertificateError) as info:
        cert_mod.verify_certificate(issue(key), trust)
    assert info.value.message == (
        f"certificate was issued at 2026-11-25T09:30:00Z, outside the validity of key {cert_mod.public_key_hex(key)} "
        "(2026-11-25T09:30:01Z to now)"
    )


@pytest.mark.parametrize(
    ("issuer", "digest", "extra", "message"),
    [
        ("", DIGEST, None, "issuer must be a non-empty string"),
        ("Archive", "AB" * 32, None, "trust_root_sha256 must be 64 lower-case hex characters"),
        ("Archive", DIGEST, {"issuer": "x"}, "extra section 'issuer' would replace a section of the certificate"),
        ("Archive", DIGEST, {"note": 2**60}, "cannot issue certificate: value cannot be canonicalised"),
    ],
)
def test_issue_refusal_messages(key, issuer: str, digest: str, extra, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CertificateError) as info:
        cert_mod.issue_certificate(result(), BUNDLE, key, NOW, issuer, trust_root_sha256=digest, extra=extra)
    assert info.value.reason_code == "certificate_malformed" and info.value.message.startswith(message)
    assert info.value.message != "certificate_malformed"


def test_issue_copies_the_bundle_summary_deeply_and_tolerates_no_bundle(key, trust) -> None:
    bundle = copy.deepcopy(BUNDLE)
    cert = cert_mod.issue_certificate(result(), bundle, key, NOW, "Archive", trust_root_sha256=DIGEST)
    bundle["record"]["size"] = 999
    bundle["anchor"]["block_number"] = 1
    summary = cert["payload"]["bundle"]
    assert summary["record"]["size"] == 3 and summary["anchor"]["block_number"] == 12
    cert_mod.verify_certificate(cert, trust)
    empty = cert_mod.issue_certificate(result(), None, key, NOW, "Archive", trust_root_sha256=DIGEST)  # type: ignore[arg-type]
    assert set(empty["payload"]["bundle"].values()) == {None}


def test_payload_that_is_not_canonical_json_is_named(key, trust) -> None:  # type: ignore[no-untyped-def]
    cert = issue(key)
    cert["payload"]["note"] = 2**60  # beyond the integers RFC 8785 (I-JSON) can carry
    with pytest.raises(CertificateError) as info:
        cert_mod.verify_certificate(cert, trust)
    assert info.value.reason_code == "certificate_malformed"
    assert info.value.message.startswith("certificate payload is not canonical JSON: ")


def test_key_retired_before_the_issue_time_names_its_period(key) -> None:
    retired = {0: ("2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z")}
    trust = trust_for(key, cert_mod.generate_signing_key(), periods=retired)
    with pytest.raises(CertificateError) as info:
        cert_mod.verify_certificate(issue(key), trust)
    assert info.value.message == (
        f"certificate was issued at 2026-11-25T09:30:00Z, outside the validity of key {cert_mod.public_key_hex(key)} "
        "(2026-01-01T00:00:00Z to 2026-06-01T00:00:00Z)"
    )
