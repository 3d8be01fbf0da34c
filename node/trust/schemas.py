"""Response models of the public verification routes."""

from __future__ import annotations

from pydantic import Field

from node.core.schemas import Answer, Certificate, OpenObject


class Step(Answer):
    name: str
    ok: bool | None
    status: str
    reason_code: str | None
    message: str


class VerificationResult(Answer):
    """verifier/verify.py, VerificationResult.to_dict."""

    outcome: str
    exit_code: int
    failed_step: str | None
    reason_code: str | None
    message: str
    steps: list[Step]


class Verified(Answer):
    result: VerificationResult
    certificate: Certificate | None = Field(default=None, description="present when asked for (`certificate: true`)")


class VerifierKey(Answer):
    algorithm: str
    public_key: str = Field(description="hex Ed25519 public key")


class TrustRootDocument(Answer):
    """GET /trust: the trust root document as RFC 8785 canonical bytes (verifier/trustroot.py checks it)."""

    v: int
    trust_root: OpenObject = Field(
        description="type, version, previous_sha256, issued_at, archive, fonds, chain, contracts, verifier_keys, "
        "officers, threshold"
    )
    signatures: list[OpenObject] = Field(description="the officers' signatures over the body's digest")
