"""The verify page's checks (issue 11): a file with its proof bundle, or a certificate, checked by the
verifier package against the node's own trust root, each as named steps with passed / failed / undecided,
the way `python -m verifier` prints them (verifier/cli.py).

A proof bundle goes through `verify_bundle` unchanged (its four steps: content_hash, record, inclusion,
chain). A certificate has no steps of its own in the verifier (`verify_certificate` returns the payload or
raises one coded error), so its checks are named here in the order `verify_certificate` makes them: the
format, the key listed in the trust root, the signature, the key valid at the issue time; then the outcome
of the verification the certificate records. The failing check is the one the error's reason code names;
the checks before it passed, those after it did not run."""

from __future__ import annotations

from typing import Any

from verifier.certificate import verify_certificate
from verifier.errors import CertificateError
from verifier.trustroot import TrustRoot
from verifier.verify import VerificationResult

CERTIFICATE_STEPS = ("certificate_format", "key_listed", "signature", "key_valid_at_issue", "recorded_outcome")
# verify_certificate's reason codes -> the check that raised it.
FAILED_AT = {
    "certificate_malformed": "certificate_format",
    "no_trust_root": "key_listed",
    "key_untrusted": "key_listed",
    "bad_signature": "signature",
    "key_not_valid_at_issue": "key_valid_at_issue",
}
NOT_RUN = "not run: an earlier step failed"
PERMIT_FIELDS = ("permit_id", "loan_id", "approver", "grantee", "tx_hash", "block_number", "not_before_iso",
                 "expires_at_iso")  # fmt: skip


def step(name: str, ok: bool | None, reason_code: str | None, message: str) -> dict[str, Any]:
    """One step as VerificationResult.to_dict writes it (status: passed, failed, indeterminate, not_run)."""
    if ok is True:
        status = "passed"
    elif ok is False:
        status = "failed"
    else:
        status = "not_run" if reason_code is None else "indeterminate"
    return {"name": name, "ok": ok, "status": status, "reason_code": reason_code, "message": message}


def summarise(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """outcome, failed_step, reason_code, message as verify.py's _summarise decides them."""
    failed = next((s for s in steps if s["ok"] is False), None)
    undecided = next((s for s in steps if s["ok"] is None), None)
    if failed is not None:
        outcome, at = "not_authentic", failed
    elif undecided is not None:
        outcome, at = "indeterminate", undecided
    else:
        return {"outcome": "authentic", "failed_step": None, "reason_code": None, "message": steps[-1]["message"],
                "steps": steps}  # fmt: skip
    return {"outcome": outcome, "failed_step": at["name"], "reason_code": at["reason_code"], "message": at["message"],
            "steps": steps}  # fmt: skip


def bundle_result(result: VerificationResult) -> dict[str, Any]:
    """A bundle's result for the page (`file` is filled in by the page)."""
    return {"kind": "bundle", **result.to_dict(), "payload": None, "same_trust_root": None, "file": None}


def check_certificate(doc: Any, trust: TrustRoot | None) -> dict[str, Any]:
    """The certificate's checks as steps, plus what it says (payload) when its signature holds."""
    try:
        payload = verify_certificate(doc, trust)
    except CertificateError as exc:
        failed_at = FAILED_AT.get(exc.reason_code, "certificate_format")
        ok = None if exc.reason_code == "no_trust_root" else False
        steps, reached = [], False
        for name in CERTIFICATE_STEPS:
            if name == failed_at:
                steps.append(step(name, ok, exc.reason_code, exc.message))
                reached = True
            elif reached:
                steps.append(step(name, None, None, NOT_RUN))
            else:
                steps.append(step(name, True, None, _passed(name, doc, trust)))
        return {"kind": "certificate", **summarise(steps), "payload": None, "same_trust_root": None, "file": None}
    assert trust is not None  # verify_certificate refuses without one
    steps = [step(name, True, None, _passed(name, doc, trust)) for name in CERTIFICATE_STEPS[:-1]]
    steps.append(_recorded(payload))
    return {"kind": "certificate", **summarise(steps), "payload": payload_view(payload),
            "same_trust_root": payload.get("trust_root_sha256") == trust.sha256, "file": None}  # fmt: skip


def _passed(name: str, doc: Any, trust: TrustRoot | None) -> str:
    """The message of a check that held (only reached for a well-formed certificate)."""
    if name == "certificate_format":
        return "version 1: payload, public key and signature are well formed"
    if name == "key_listed":
        return f"key {doc['public_key']} is a verifier key of trust root version {trust.version if trust else '?'}"
    if name == "signature":
        return "the Ed25519 signature verifies over the payload's RFC 8785 bytes: nothing in it was changed"
    return f"issued at {doc['payload'].get('issued_at')}, within the key's validity period"


def _recorded(payload: dict[str, Any]) -> dict[str, Any]:
    """The verification the certificate records: authentic passes; not_authentic fails; else undecided."""
    outcome = payload.get("outcome")
    message = str(payload.get("message") or "")
    if outcome == "authentic":
        return step("recorded_outcome", True, None, message or "authentic")
    reason = payload.get("reason_code")
    code = reason if isinstance(reason, str) and reason else str(outcome)
    return step("recorded_outcome", False if outcome == "not_authentic" else None, code, message)


def payload_view(payload: dict[str, Any]) -> dict[str, Any]:
    """What a (genuine) certificate says, with every field the page shows present (text, or None)."""

    def text(source: Any, key: str) -> str | None:
        value = source.get(key) if isinstance(source, dict) else None
        return None if value is None else str(value)

    bundle = payload.get("bundle") if isinstance(payload.get("bundle"), dict) else {}
    record = bundle.get("record") if isinstance(bundle.get("record"), dict) else None
    permit = payload.get("permit") if isinstance(payload.get("permit"), dict) else None
    recorded = payload.get("steps") if isinstance(payload.get("steps"), list) else []
    return {
        "issued_at": text(payload, "issued_at"), "issuer": text(payload, "issuer"),
        "trust_root_sha256": text(payload, "trust_root_sha256"),
        "record": {k: text(record, k) for k in ("item_id", "fonds", "content_sha256")} if record else None,
        "permit": {k: text(permit, k) for k in PERMIT_FIELDS} if permit else None,
        "steps": [step(str(s.get("name")), s.get("ok") if isinstance(s.get("ok"), bool) else None,
                       text(s, "reason_code"), text(s, "message") or "") for s in recorded if isinstance(s, dict)],
    }  # fmt: skip
