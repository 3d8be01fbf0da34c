"""Response models of the item routes."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from node.core.schemas import Answer, ItemView


class FiledItem(ItemView):
    """POST /items: the item filed (201), or the same file filed before (200, `duplicate: true`)."""

    duplicate: bool


class ItemList(Answer):
    total: int = Field(description="matching items in all pages")
    items: list[ItemView]


RESENT_ITEM: dict[int | str, dict[str, Any]] = {
    200: {"model": FiledItem, "description": "The same file was filed before: the existing item (`duplicate: true`)"}
}
CONTENT_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The stored bytes (X-Content-SHA256; a borrower also gets X-Loan-Id, X-Permit-Id, Link)",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
