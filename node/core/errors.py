"""Every error node/ raises on purpose, and the one table that decides how any error is answered over HTTP.

One root: `NodeError` (itself a `LedgerError`, anchor's root, so the CLI maps both with one row of
cli.EXIT_CODES). Every error class of node/ is defined here, whichever slice raises it (the slices import
them from here), because the table must name every class and nothing in node/core may import a slice.

`HTTP_ERRORS` maps each class, node's and anchor's, to an HTTP status and a default reason code. A class
answers with its own row, else its nearest ancestor's; a raise site may give a more specific reason
(`NotFound(..., reason="item_not_found")`), never another status. `answer(exc)` is the one place a caught
error becomes (status, reason, detail, headers, extra fields); node/app.py registers one handler that uses
it, and the body limit middleware uses it for its refusals. No FastAPI import at module level: the CLI
imports this module too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anchor import errors as anchor_errors
from anchor.errors import LedgerError
from verifier.errors import ChainUnavailable as VerifierChainUnavailable


def redact_paths(message: str, data_dir: Path) -> str:
    """`message` with the data dir's absolute path made relative (`<data>/blobs/...`) and the
    system temp dir's hidden: error bodies never show where the server keeps its files."""
    import tempfile

    for root, shown in ((data_dir.resolve(), "<data>"), (data_dir, "<data>"), (Path(tempfile.gettempdir()), "<tmp>")):
        message = message.replace(str(root), shown)
    return message


# -- the root ----------------------------------------------------------------------------------------------
class NodeError(LedgerError):
    """The root of node/'s errors. Its HTTP status and default reason are its class's row in HTTP_ERRORS."""

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.given_reason = reason
        self.headers: dict[str, str] = {}  # extra response headers (a 429's Retry-After)
        self.extra: dict[str, Any] = {}  # extra body fields next to error/detail (a rejected package's report)

    @property
    def reason(self) -> str:
        """The raise site's reason if it gave one, else the table's for this class."""
        return self.given_reason or row_of(type(self))[1]

    @property
    def status(self) -> int:
        """The HTTP status the table gives this class."""
        return row_of(type(self))[0]


# -- the general kinds -------------------------------------------------------------------------------------
class InvalidInput(NodeError):
    """The request is well formed but its content is not acceptable."""


class UploadTooLarge(NodeError):
    """An upload (item or package) over the node's upload limit."""


class NotFound(NodeError):
    """No such thing (item, loan, package, user ...)."""


class Conflict(NodeError):
    """The request conflicts with the current state."""


class Unauthorized(NodeError):
    """No valid credential."""


class Forbidden(NodeError):
    """The caller may not do this."""


class NotConfigured(NodeError):
    """The node lacks what this needs (a contract address): `archive-ledger init` sets it."""


class UnsafeSecretFile(NodeError):
    """A secret file (API key, token, password) that others may read: refused until chmod 600."""


class TooManyRequests(NodeError):
    """429 with a Retry-After header (seconds, rounded up). node/users/login_guard.py."""

    def __init__(self, message: str, *, retry_after_s: float, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after_s = retry_after_s
        self.headers = {"Retry-After": str(max(1, math.ceil(retry_after_s)))}


class LoginBusy(TooManyRequests):
    """Too many logins are being checked at once: try again shortly. node/users/login_guard.py."""


# -- request bodies (node/core/limits.py) ------------------------------------------------------------------
class BodyRefused(NodeError, ValueError):
    """A body refused before or while parsing (also a ValueError: the bounded JSON parser raises it)."""

    @property
    def detail(self) -> str:
        return str(self)


class BodyTooLarge(BodyRefused):
    """A request body over the node's body cap."""


class JsonTooDeep(BodyRefused):
    """JSON nested deeper than allowed."""


class NumberOutOfRange(BodyRefused):
    """A JSON number that is too long, not finite or not a number."""


# -- roles (node/core/roles.py) ----------------------------------------------------------------------------
class RoleRuleError(Forbidden):
    """A role change the separation-of-duties rules forbid."""


class RoleConflict(Conflict):
    """The resulting set of roles is not allowed (two officer roles, or an officer with business roles)."""


# -- the slices' own -------------------------------------------------------------------------------------------
class SidecarError(NodeError):
    """A metadata sidecar cannot be read or names a file that does not exist. node/ingest/batch.py."""


class PackageError(NodeError):
    """The package cannot be opened at all (not a directory, ZIP or bag). node/filing/checks/package.py."""


class PackageRejected(NodeError):
    """The four-properties checks block the package; nothing was filed. The body carries the package and
    its report next to error/detail. node/filing/routes.py."""

    def __init__(self, message: str, *, extra: dict[str, Any]) -> None:
        super().__init__(message)
        self.extra = extra


class FilingError(NodeError):
    """The package could not be filed for a reason outside the checks (a file changed after it was
    checked); nothing was filed. node/filing/service.py."""


class ZipBomb(NodeError, ValueError):
    """A ZIP (or a PDF stream, an image) inflates past a bound: refused without inflating it.
    node/filing/checks/ziplimits.py; the checks report it as USAB-BOMB."""


class ZipCorrupt(NodeError, ValueError):
    """A ZIP member's CRC, sizes or compressed stream are wrong. node/filing/checks/ziplimits.py."""


class CodeError(NodeError, ValueError):
    """A reference code that does not follow its rule, or fields that cannot make one.
    node/filing/checks/codes.py; the checks report it as AUTH-REFCODE."""


class ChainRelayFailed(NodeError):
    """A permit could not be put on chain (the relay transaction failed). node/lending/service.py."""


class PreservationBusy(Conflict):
    """A preservation pass is already running. node/preservation/service.py."""


class TrustIssueError(NodeError):
    """A trust root cannot be issued (too few officers, a wrong password, no chain ...). node/trust/service.py."""


class ExtractionRefused(NodeError):
    """An item broke a text-extraction bound or cannot be read: it fails with `reason` (a code) and no text.
    node/search/extract.py; the extraction job records it, no client sees it."""


class OcrTimeout(NodeError):
    """OCR (or the page rendering) ran past the item's deadline. node/search/ocr.py."""


class OcrError(NodeError):
    """Tesseract or pdftoppm failed on this input (its message says why). node/search/ocr.py."""


class ExtractionBusy(Conflict):
    """A text-extraction pass is running already. node/search/extraction.py."""


class AuditAlreadyWritten(NodeError):
    """A second audit event for one request: a programming error, never a user's (500). node/audit/request.py."""


class AlreadyInitialised(NodeError):
    """init would overwrite an existing node. node/core/bootstrap.py."""


class NodeRequestError(NodeError):
    """The CLI's side: a node refused a request (4xx/5xx) or could not be reached. node/core/client.py.

    `status` and `reason` are what the node answered (`status` None: it could not be reached)."""

    status: int | None = None  # type: ignore[assignment]  # the remote node's status, not this class's row

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.status = status


# -- the one table ---------------------------------------------------------------------------------------------
# class -> (HTTP status, default reason). Every error class of node/ and anchor/ has its own row
# (tests/node/core/test_core_errors.py walks the modules); the reasons are the codes clients and the README use.
HTTP_ERRORS: dict[type[BaseException], tuple[int, str]] = {
    # node/
    NodeError: (400, "bad_request"),
    InvalidInput: (422, "invalid_input"),
    UploadTooLarge: (413, "upload_too_large"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    Unauthorized: (401, "unauthorized"),
    Forbidden: (403, "forbidden"),
    NotConfigured: (503, "not_configured"),
    UnsafeSecretFile: (500, "unsafe_secret_file"),
    TooManyRequests: (429, "login_locked"),
    LoginBusy: (503, "login_busy"),
    BodyRefused: (400, "bad_request"),
    BodyTooLarge: (413, "body_too_large"),
    JsonTooDeep: (400, "json_too_deep"),
    NumberOutOfRange: (422, "number_out_of_range"),
    RoleRuleError: (403, "role_rule"),
    RoleConflict: (409, "role_conflict"),
    SidecarError: (422, "sidecar_invalid"),
    PackageError: (422, "package_unreadable"),
    PackageRejected: (422, "package_rejected"),
    FilingError: (409, "package_changed"),
    ZipBomb: (422, "decompression_bomb"),
    ZipCorrupt: (422, "zip_corrupt"),
    CodeError: (422, "reference_code_invalid"),
    ChainRelayFailed: (502, "chain_relay_failed"),
    PreservationBusy: (409, "preservation_busy"),
    TrustIssueError: (409, "trust_root_refused"),
    ExtractionRefused: (422, "extraction_refused"),
    OcrTimeout: (422, "ocr_timeout"),
    OcrError: (422, "ocr_failed"),
    ExtractionBusy: (409, "extraction_busy"),
    AuditAlreadyWritten: (500, "internal_error"),
    AlreadyInitialised: (409, "already_initialised"),
    NodeRequestError: (502, "node_request_failed"),
    # anchor/: what a client can act on has its own reason; the rest is the node's fault (500 ledger_error)
    LedgerError: (500, "ledger_error"),
    anchor_errors.ProfileError: (500, "ledger_error"),
    anchor_errors.KeystoreError: (500, "ledger_error"),
    anchor_errors.ChainError: (500, "ledger_error"),
    anchor_errors.ChainUnavailable: (503, "chain_unavailable"),
    anchor_errors.NonceTooLow: (500, "ledger_error"),
    anchor_errors.TransactionTimeout: (500, "ledger_error"),
    anchor_errors.TransactionReverted: (500, "ledger_error"),
    anchor_errors.ReaderCallReverted: (500, "ledger_error"),
    anchor_errors.ReaderRPCError: (500, "ledger_error"),
    anchor_errors.LogNotFound: (404, "log_not_found"),
    anchor_errors.TreeSizeError: (500, "ledger_error"),
    anchor_errors.NotAnchoredYet: (409, "not_anchored"),
    anchor_errors.AnchorBusy: (409, "anchor_busy"),
    anchor_errors.LogDiverged: (500, "log_diverged"),
    # the verifier's outage is the same outage (anchor's ChainUnavailable is also the verifier's)
    VerifierChainUnavailable: (503, "chain_unavailable"),
    # anything else is a bug: 500, and the detail does not repeat its message (the server logs it)
    Exception: (500, "internal_error"),
}

# The framework's own refusals (unknown route, wrong method, unparsable body): the status is the
# framework's, the reason this one. A request that fails its declared model is InvalidInput (422).
FRAMEWORK_REASONS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
INTERNAL_DETAIL = "internal error: the node logged it"


def row_of(kind: type[BaseException]) -> tuple[int, str]:
    """The table's (status, reason) for an error class: its own row, else its nearest ancestor's."""
    for ancestor in kind.__mro__:
        if ancestor in HTTP_ERRORS:
            return HTTP_ERRORS[ancestor]
    return HTTP_ERRORS[Exception]


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    reason: str
    detail: str
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return error_body(self.reason, self.detail, self.extra)


def error_body(reason: str, detail: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every error body: `{"error": reason, "detail": ...}`, some with more fields (node/core/openapi.py ErrorBody)."""
    return {"error": reason, "detail": detail, **(extra or {})}


def answer(exc: BaseException) -> ErrorAnswer:
    """How an error is answered over HTTP: the one mapping (HTTP_ERRORS, FRAMEWORK_REASONS)."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    if isinstance(exc, HTTPException):
        reason = FRAMEWORK_REASONS.get(exc.status_code, f"http_{exc.status_code}")
        return ErrorAnswer(exc.status_code, reason, str(exc.detail), dict(exc.headers or {}))
    if isinstance(exc, RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        exc = InvalidInput(problems)
    status, reason = row_of(type(exc))
    if isinstance(exc, NodeError):
        return ErrorAnswer(status, exc.reason, str(exc), dict(exc.headers), dict(exc.extra))
    return ErrorAnswer(status, reason, str(exc) if isinstance(exc, LedgerError) else INTERNAL_DETAIL)


__all__ = [
    "FRAMEWORK_REASONS",
    "HTTP_ERRORS",
    "AlreadyInitialised",
    "AuditAlreadyWritten",
    "BodyRefused",
    "BodyTooLarge",
    "ChainRelayFailed",
    "CodeError",
    "Conflict",
    "ErrorAnswer",
    "ExtractionBusy",
    "ExtractionRefused",
    "FilingError",
    "Forbidden",
    "InvalidInput",
    "JsonTooDeep",
    "LoginBusy",
    "NodeError",
    "NodeRequestError",
    "NotConfigured",
    "NotFound",
    "NumberOutOfRange",
    "OcrError",
    "OcrTimeout",
    "PackageError",
    "PackageRejected",
    "PreservationBusy",
    "RoleConflict",
    "RoleRuleError",
    "SidecarError",
    "TooManyRequests",
    "TrustIssueError",
    "Unauthorized",
    "UnsafeSecretFile",
    "UploadTooLarge",
    "ZipBomb",
    "ZipCorrupt",
    "answer",
    "error_body",
    "redact_paths",
    "row_of",
]
