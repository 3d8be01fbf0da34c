"""Streaming multipart/form-data: each part's bytes go to a sink as they arrive, never held whole."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from node.core.errors import InvalidInput, NodeError

Sink = Callable[[memoryview], None]


def form_boundary(content_type: str) -> bytes | None:
    """The boundary of a multipart/form-data content type, None for anything else."""
    ctype, params = parse_options_header(content_type)
    return params.get(b"boundary") if ctype == b"multipart/form-data" else None


async def stream_form(
    boundary: bytes, body: AsyncIterator[bytes], open_part: Callable[[str, str | None], Sink | None]
) -> None:
    """Feed each part to `open_part(name, filename)`'s sink (None: the part is skipped). A sink or
    `open_part` refuses by raising one of our NodeErrors; anything else malformed is `malformed_multipart`."""
    state: dict[str, Any] = {"headers": {}, "field": b"", "value": b"", "sink": None}
    errors: list[Exception] = []

    def on_part_begin() -> None:
        state["headers"], state["sink"] = {}, None

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        disposition, opts = parse_options_header(state["headers"].get(b"content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        filename = opts[b"filename"].decode("utf-8", "replace") if b"filename" in opts else None
        try:
            if disposition != b"form-data":
                raise InvalidInput(f"unexpected form part {name!r}", reason="bad_form_part")
            state["sink"] = open_part(name, filename)
        except NodeError as exc:
            errors.append(exc)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["sink"] is not None and not errors:
            try:
                state["sink"](memoryview(data)[start:end])
            except NodeError as exc:
                errors.append(exc)

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
            "on_header_end": on_header_end, "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        },  # type: ignore[arg-type]
    )  # fmt: skip
    try:
        async for chunk in body:
            parser.write(chunk)
            if errors:
                raise errors[0]
        parser.finalize()
    except NodeError:
        raise
    except Exception as exc:
        raise InvalidInput(f"malformed multipart body: {exc}", reason="malformed_multipart") from exc
    if errors:
        raise errors[0]
