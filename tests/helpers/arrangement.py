"""Items for the arrangement tests (件/卷/盒): one ingest over HTTP with the arrangement's metadata."""

from __future__ import annotations

import json
from typing import Any

META = {"fonds": "Z001", "title": "关于港口调度的通知", "category": "WS", "year": 2024, "retention": "永久"}


def ingest(api: Any, data: bytes, **over: Any) -> dict[str, Any]:
    meta = {**META, **over}
    files = {"metadata": (None, json.dumps(meta, ensure_ascii=False).encode(), "application/json"),
             "file": ("doc.txt", data, "application/octet-stream")}  # fmt: skip
    r = api.post("/items", files=files)
    assert r.status_code == 201, r.text
    return r.json()
