"""Errors the node turns into HTTP answers: each carries a status and a reason a client can act on."""

from __future__ import annotations

from pathlib import Path

from anchor.errors import LedgerError


def redact_paths(message: str, data_dir: Path) -> str:
    """`message` with the data dir's absolute path made relative (`<data>/blobs/...`) and the
    system temp dir's hidden: error bodies never show where the server keeps its files."""
    import tempfile

    for root, shown in ((data_dir.resolve(), "<data>"), (data_dir, "<data>"), (Path(tempfile.gettempdir()), "<tmp>")):
        message = message.replace(str(root), shown)
    return message


class NodeError(LedgerError):
    status_code = 400
    reason = "bad_request"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason:
            self.reason = reason


class InvalidInput(NodeError):
    status_code = 422
    reason = "invalid_input"


class UploadTooLarge(NodeError):
    status_code = 413
    reason = "upload_too_large"


class NotFound(NodeError):
    status_code = 404
    reason = "not_found"


class Conflict(NodeError):
    status_code = 409
    reason = "conflict"


class Unauthorized(NodeError):
    status_code = 401
    reason = "unauthorized"


class Forbidden(NodeError):
    status_code = 403
    reason = "forbidden"
