"""Search: the `archive-ledger search` command group (over HTTP)."""

from __future__ import annotations

from typing import Any

import typer

from node.core.cli import (
    DEFAULT_KEY_FILE,
    DEFAULT_NODE,
    ApiKeyFile,
    AsJson,
    NodeUrl,
    Token,
    call_node,
    emit,
    fail,
)

search_app = typer.Typer(no_args_is_help=True, help="Full-text search: extraction progress, queries, the index.")


# -- text extraction (issue 10 point 1): `search status` ------------------------------------------------------
@search_app.command("status")
def search_status(
    node: NodeUrl = DEFAULT_NODE, token: Token = None, api_key_file: ApiKeyFile = DEFAULT_KEY_FILE,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Text extraction progress: items total, done, pending, skipped, failed; whether OCR is installed
    (and how to install it); the last failures. Read from GET /status."""
    data = call_node(node, api_key_file, "GET", "/status", token=token).get("extraction")
    if data is None:
        fail("this node reports no text extraction (an older version)")
    if as_json:
        emit(data)
        return
    for line in extraction_lines(data):
        typer.echo(line)


def extraction_lines(data: dict[str, Any]) -> list[str]:
    """The human form of the `extraction` section of GET /status."""
    total = data["total"]
    share = f" ({100 * data['done'] // total}%)" if total else ""
    lines = [
        f"text extraction: {'enabled' if data['enabled'] else 'DISABLED'}, every {data['interval_s']:g} s",
        f"items: {total} total, {data['done']} done{share}, {data['pending']} pending, {data['skipped']} skipped, "
        f"{data['failed']} failed",
    ]
    ocr = data["ocr"]
    lines.append(f"OCR: available ({ocr['message']})" if ocr["available"] else f"OCR: NOT available: {ocr['message']}")
    last = data.get("last_run")
    if last:
        lines.append(f"last pass {last['started_at']}: {last['items']} item(s) in {last['seconds']:g} s, "
                     f"{last['done']} done, {last['skipped']} skipped, {last['failed']} failed"
                     + ("" if last["complete"] else ", more pending"))  # fmt: skip
    if data.get("last_error"):
        lines.append(f"last pass error: {data['last_error']}")
    for err in data.get("last_errors") or []:
        state = "FAILED" if err["status"] == "failed" else f"retrying (attempt {err['attempts']})"
        lines.append(f"{state} item {err['item_id']}: {err['message']}")
    return lines
