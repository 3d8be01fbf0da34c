"""Calls on the node's HTTP API that many test modules make (an upload of one item)."""

from __future__ import annotations

import json

META = {
    "fonds": "Z001",
    "title": "关于2024年港口调度的通知",
    "category": "WS",
    "year": 2024,
    "retention": "永久",
}


def upload(api, data: bytes, meta: dict | None = None, name: str = "doc.pdf"):  # type: ignore[no-untyped-def]
    files = {
        "metadata": (None, json.dumps(meta or META, ensure_ascii=False).encode(), "application/json"),
        "file": (name, data, "application/octet-stream"),
    }
    return api.post("/items", files=files)
