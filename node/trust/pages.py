"""The verify page (issue 11, point 4): an auditor uploads a file with its proof bundle, or a certificate,
and the node runs the verifier package against its own trust root (GET /trust), showing each step.

Who: the auditor and the security auditor (`x-roles`, checked by `auditors` below): the page is their tool
(the issue's "Auditor / security auditor"). The API beside it, POST /verify, is public; no action of
node/core/roles.py is held by exactly these two roles, and a new action would give the security auditor a
power named as a write.

Not an audit event, like POST /verify (node/audit/middleware.py, NOT_AUDITED): verifying changes nothing
and anybody can run the same check anonymously through the API or the standalone verifier, so an event
per check would only bloat the trail.

The POST streams (node/core/limits.py, STREAMING_ROUTES): the file is hashed as it arrives and never kept
(at most `max_upload_bytes`, as POST /items), the bundle or certificate is held up to `max_body_bytes` and
parsed within the API's JSON bounds. The CSRF token is checked from the form's first part, before any
file byte is read (the router-level `check_csrf` would read the whole form first)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from node.core import web
from node.core.context import NodeContext
from node.core.deps import current_principal, get_ctx
from node.core.errors import BodyRefused, Forbidden, InvalidInput, UploadTooLarge, answer
from node.core.limits import loads_bounded
from node.core.multipart import form_boundary, stream_form
from node.core.principal import Principal
from node.core.roles import Role
from node.trust.verification import bundle_result, check_certificate

AUDITOR_ROLES = (Role.AUDITOR.value, Role.SECURITY_AUDITOR.value)
AUDITORS_ONLY = {"x-roles": list(AUDITOR_ROLES)}  # tests/node/core/test_route_roles.py reads it
MAX_TOKEN_BYTES = 256
Ctx = Annotated[NodeContext, Depends(get_ctx)]


def auditors(principal: Principal = Depends(current_principal)) -> Principal:
    """403 `forbidden` unless the caller is an auditor or the security auditor."""
    if not set(principal.roles) & set(AUDITOR_ROLES):
        raise Forbidden(f"{principal.kind} {principal.name!r} is not an auditor: the verify page is the auditors'")
    return principal


router = APIRouter(
    include_in_schema=False, dependencies=[Depends(web.page_session), Depends(web.check_csrf)], tags=["pages"]
)
# The upload: no router-level check_csrf (it would read the whole body into a form first); see `_read_form`.
upload_router = APIRouter(include_in_schema=False, dependencies=[Depends(web.page_session)], tags=["pages"])


@router.get("/verify-record", openapi_extra=AUDITORS_ONLY)
def verify_form(request: Request, ctx: Ctx, _: Principal = Depends(auditors)) -> Response:
    return _page(request, ctx)


@upload_router.post("/verify-record", openapi_extra=AUDITORS_ONLY)
async def verify_upload(request: Request, ctx: Ctx, _: Principal = Depends(auditors)) -> Response:
    """A file with its proof bundle, or a certificate: the steps, the failing one marked."""
    try:
        form = await _read_form(request, ctx)
        if form.certificate is not None and form.bundle is not None:
            raise InvalidInput("give a file with its proof bundle, or a certificate: one at a time",
                               reason="verify_one_at_a_time")  # fmt: skip
        if form.certificate is not None:
            doc = _json(form.certificate, ctx, "certificate_not_json", "the certificate")
            result = check_certificate(doc, ctx.trust_root)
        elif form.bundle is not None:
            bundle = _json(form.bundle, ctx, "bundle_not_json", "the proof bundle")
            verified = await run_in_threadpool(ctx.verify_proof, bundle, content_sha256=form.sha256)
            result = bundle_result(verified)
            result["file"] = {"name": form.filename, "size": form.size, "sha256": form.sha256}
        else:
            raise InvalidInput("nothing to verify: choose a file and its proof bundle, or a certificate",
                               reason="nothing_to_verify")  # fmt: skip
    except (InvalidInput, UploadTooLarge, BodyRefused) as exc:
        refusal = answer(exc)
        return _page(request, ctx, status_code=refusal.status, error=refusal.reason, error_detail=refusal.detail)
    return _page(request, ctx, result=result)


def _page(request: Request, ctx: NodeContext, status_code: int = 200, **values: Any) -> Response:
    trust = ctx.trust_root
    summary = None
    if trust is not None:
        summary = {"version": trust.version, "sha256": trust.sha256, "archive": trust.archive_name,
                   "chain_id": trust.chain_id, "anchor": trust.anchor_address}  # fmt: skip
    values = {"result": None, "error": None, "error_detail": "", **values}
    limits = {"file_mib": ctx.settings.max_upload_bytes // 2**20, "json_kib": ctx.settings.max_body_bytes // 1024}
    return web.render(request, "trust/verify.html", status_code=status_code, trust=summary, limits=limits, **values)


# -- the upload -----------------------------------------------------------------------------------------
@dataclass
class _Form:
    csrf: bytearray = field(default_factory=bytearray)
    csrf_checked: bool = False
    filename: str | None = None
    size: int = 0
    sha256: str | None = None  # of the file, None when no file was chosen
    bundle: bytes | None = None
    certificate: bytes | None = None


async def _read_form(request: Request, ctx: NodeContext) -> _Form:
    boundary = form_boundary(request.headers.get("content-type", ""))
    if boundary is None:
        raise InvalidInput("send the verify form as multipart/form-data", reason="not_multipart")
    form = _Form()
    hasher = hashlib.sha256()
    buffers: dict[str, bytearray] = {}
    max_file, max_json = ctx.settings.max_upload_bytes, ctx.settings.max_body_bytes

    def token_sink(chunk: memoryview) -> None:
        form.csrf.extend(chunk)
        if len(form.csrf) > MAX_TOKEN_BYTES:
            raise Forbidden("the form's CSRF token is missing or wrong", reason="csrf_failed")

    def file_sink(chunk: memoryview) -> None:
        form.size += len(chunk)
        if form.size > max_file:
            raise UploadTooLarge(f"the file is larger than the node's upload limit of {max_file} bytes",
                                 reason="upload_too_large")  # fmt: skip
        hasher.update(chunk)

    def json_sink(name: str) -> Any:
        buffer = buffers.setdefault(name, bytearray())

        def sink(chunk: memoryview) -> None:
            buffer.extend(chunk)
            if len(buffer) > max_json:
                raise UploadTooLarge(f"the {name} file is larger than {max_json} bytes", reason="upload_too_large")

        return sink

    def open_part(name: str, filename: str | None) -> Any:
        if name == web.CSRF_FIELD:
            return token_sink
        if not form.csrf_checked:  # the token is the form's first field: nothing else is read before it
            _check_csrf(request, bytes(form.csrf))
            form.csrf_checked = True
        if name == "file":
            form.filename = filename
            return file_sink
        if name in ("bundle", "certificate"):
            return json_sink(name)
        return None  # any other field is skipped unread

    await stream_form(boundary, request.stream(), open_part)
    if not form.csrf_checked:
        _check_csrf(request, bytes(form.csrf))
    if form.size or form.filename:  # a browser sends an empty part for a file input left empty
        form.sha256 = hasher.hexdigest()
    else:
        form.filename = None
    form.bundle = bytes(buffers["bundle"]) if buffers.get("bundle") else None
    form.certificate = bytes(buffers["certificate"]) if buffers.get("certificate") else None
    return form


def _check_csrf(request: Request, sent: bytes) -> None:
    """web.check_csrf's rule for a logged-in session: a cookie session must send its token; a bearer
    credential without a cookie carries no ambient authority and needs none."""
    if not request.cookies.get(web.SESSION_COOKIE) and request.headers.get("authorization"):
        return
    expected = web.csrf_token(request) if getattr(request.state, "session_token", None) else ""
    if not expected or not hmac.compare_digest(sent, expected.encode()):
        raise Forbidden("the form's CSRF token is missing or wrong: reload the page and try again",
                        reason="csrf_failed")  # fmt: skip


def _json(raw: bytes, ctx: NodeContext, reason: str, what: str) -> Any:
    """The uploaded JSON within the API's bounds (depth, number sizes); 422 `reason` if it is not JSON."""
    try:
        return loads_bounded(raw, max_depth=ctx.settings.max_json_depth)
    except BodyRefused:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise InvalidInput(f"{what} is not JSON: {exc}", reason=reason) from exc
