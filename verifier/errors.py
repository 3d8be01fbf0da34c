"""Exception hierarchy of the verifier: callers catch VerifierError, or a narrower class to tell
why a check failed."""


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


class CertificateError(VerifierError):
    """A certificate is malformed, untrusted or its signature does not verify."""


class ChainUnavailable(VerifierError):
    """The chain could not be reached (connection refused, timeout): the answer is unknown."""
