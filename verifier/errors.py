"""Exception hierarchy of the verifier: callers catch VerifierError, or a narrower class to tell
why a check failed."""

from __future__ import annotations

from typing import Any


class VerifierError(Exception):
    """Base of every error raised by the verifier."""


class ProofError(VerifierError):
    """A Merkle proof does not check out."""


class InclusionProofError(ProofError):
    """An inclusion proof is malformed or does not lead to the expected root."""


class ConsistencyProofError(ProofError):
    """A consistency proof is malformed or does not link the two roots."""


class RecordError(VerifierError):
    """A record is malformed (missing fields, wrong types, bad hex)."""


class _Coded(VerifierError):
    """An error with a machine-readable reason code next to its message.

    Raised as `Cls(reason_code, message)`; `Cls(message)` alone takes the class's default code.
    """

    default_code = "error"

    def __init__(self, reason_code: str, message: str | None = None) -> None:
        if message is None:
            reason_code, message = self.default_code, reason_code
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


class CertificateError(_Coded):
    """A certificate is malformed, untrusted or its signature does not verify.

    reason_code: no_trust_root, certificate_malformed, key_untrusted, key_not_valid_at_issue, bad_signature.
    """

    default_code = "certificate_malformed"


class TrustRootError(_Coded):
    """A trust root document is malformed, not signed as required, or not a valid update of a pinned one.

    reason_code: trust_root_malformed, trust_root_bad_signature, trust_root_rollback, trust_root_unlinked,
    wrong_chain, no_trust_root.
    """

    default_code = "trust_root_malformed"


class BundleError(_Coded):
    """A proof bundle is malformed. reason_code: bundle_malformed or record_malformed."""

    default_code = "bundle_malformed"


class RpcCallError(VerifierError):
    """A JSON-RPC error object answered one call of a batch (e.g. an eth_call that reverted).

    Returned in its slot by ChainReader.batch, not raised: the other calls of the batch still count.
    """

    def __init__(self, method: str, code: Any, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: JSON-RPC error {code}: {message}")
        self.method = method
        self.code = code
        self.rpc_message = message
        self.data = data


class ChainUnavailable(VerifierError):
    """The chain could not be reached (connection refused, timeout): the answer is unknown."""
