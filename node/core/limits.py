"""Bounded request bodies: one place that caps the size of every non-streaming body (whatever its
content type) and parses JSON within bounds (nesting depth, number sizes) before FastAPI sees it.

Why: FastAPI reads a body whole into memory before any check runs, and `POST /verify` and
`POST /auth/login` take one without a key. The Ethereum stack raises Python's recursion limit to
100,000, so the C JSON decoder would overflow the C stack (a segfault, not an exception) on a body
nested ~100,000 deep; Python's int parsing refuses (ValueError, a 500) integers over 4,300 digits;
`NaN`, `Infinity` and `1e400` are not JSON numbers a ledger can hash (RFC 8785 refuses them).
Uploads (multipart items, ZIP packages) stream and keep their own limits (`max_upload_bytes`)."""

from __future__ import annotations

import json
import math
import re
from array import array
from itertools import accumulate
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from node.core.errors import BodyRefused, BodyTooLarge, JsonTooDeep, NumberOutOfRange, answer

MAX_BODY_BYTES = 1024 * 1024  # a loan of 500 items with client-side signatures is ~100 KiB
MAX_JSON_DEPTH = 64  # the deepest body the API takes (a proof bundle) nests < 10 levels
MAX_INT_DIGITS = 20  # 2**63 - 1 has 19 digits: anything longer is out of range for every field
MAX_JSON_BYTES = MAX_BODY_BYTES  # the former name
# Routes that stream their bodies under their own caps (node/ingest/service.py, node/filing/routes.py; the filing
# and verify pages, node/filing/pages.py, node/trust/pages.py).
STREAMING_ROUTES = frozenset(
    {("POST", "/items"), ("POST", "/packages"), ("POST", "/filing"), ("POST", "/verify-record")}
)

# A JSON string; an unterminated one (or one ending in a backslash) runs to the end of the input, so
# every match attempt succeeds and the scan stays linear (a pattern that can fail would retry at every
# quote: quadratic on `"\"\"\"...`).
_STRING = re.compile(rb'"[^"\\]*(?:\\(?:.|\Z)[^"\\]*)*(?:"|\Z)', re.DOTALL)
_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays/objects outside strings. Linear and C-speed (regex, translate,
    accumulate); never recursive, so it is safe on any input. Malformed input only over-counts."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS).translate(_BRACKETS)
    return max(accumulate(array("b", brackets)), default=0)


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise NumberOutOfRange(f"an integer of {len(text)} digits is out of range")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > 64:
        raise NumberOutOfRange("a number of more than 64 characters is out of range")
    value = float(text)
    if not math.isfinite(value):
        raise NumberOutOfRange(f"{text[:32]} is out of range (finite numbers only)")
    return value


def _parse_constant(text: str) -> Any:
    raise NumberOutOfRange(f"{text} is not a JSON number (finite numbers only)")


def loads_bounded(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads within bounds: depth <= max_depth (checked before decoding), integers of at most
    MAX_INT_DIGITS digits, finite floats only. BodyRefused (400/422) for what is out of bounds,
    json.JSONDecodeError / UnicodeDecodeError for what is not JSON."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    depth = json_depth(raw)
    if depth > max_depth:
        raise JsonTooDeep(f"JSON nested {depth} levels deep; at most {max_depth} are allowed")
    return json.loads(
        raw.decode("utf-8"), parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
    )


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


def _parsed_as_json(scope: Scope) -> bool:
    """FastAPI parses a body as JSON when its content type is JSON or absent."""
    value = _header(scope, b"content-type")
    if value is None:
        return True
    ctype = value.split(b";", 1)[0].strip().lower()
    return ctype == b"application/json" or ctype.endswith(b"+json")


class BodyLimit:
    """Pure ASGI: every body except the streaming uploads' is refused over `max_bytes` (413
    `body_too_large`: Content-Length checked first, a chunked body counted as it streams, so nothing
    over the cap is held), and a body FastAPI will parse as JSON is parsed here first within bounds
    (400 `json_too_deep`, 422 `number_out_of_range`). Inside the audit middleware: a refusal is an event."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"].rstrip("/") or "/") in STREAMING_ROUTES:
            await self.app(scope, receive, send)
            return
        declared = (_header(scope, b"content-length") or b"").strip()
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send, BodyTooLarge(self._too_large()))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(scope, send, BodyTooLarge(self._too_large()))
                return
            chunks.append(body)
            more = message.get("more_body", False)
        data = b"".join(chunks)
        if data and _parsed_as_json(scope):
            try:
                loads_bounded(data, max_depth=self.max_depth)
            except BodyRefused as exc:
                await self._refuse(scope, send, exc)
                return
            except ValueError:  # not JSON (UnicodeDecodeError, JSONDecodeError): FastAPI answers 422
                pass
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"a request body may have at most {self.max_bytes} bytes"

    @staticmethod
    async def _refuse(scope: Scope, send: Send, refused: BodyRefused) -> None:
        """Answer as the app's error handler would (node/core/errors.py decides status and reason)."""
        refusal = answer(refused)
        event = scope.setdefault("state", {}).get("audit")  # the request's RequestAudit (node/audit/request.py)
        if event is not None:
            event.refused(refusal.reason)  # for the audit event of the refusal
        body = json.dumps(refusal.body()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if refusal.status == 413:
            headers.append((b"connection", b"close"))  # the rest of the body is not read
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


JsonBodyLimit = BodyLimit  # the former name
