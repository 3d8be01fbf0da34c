"""docs/openapi.json: the node's OpenAPI document, written by `make openapi` (python -m node.core.openapi_doc).

The document is a pure function of the routes and their models, so it is built from an app over a stand-in
context (no data dir, no chain: create_app only reads settings while assembling). tests/node/core/test_openapi_models.py
fails when the committed file differs from what a real node serves at /openapi.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def document() -> dict[str, Any]:
    from node.app import create_app
    from node.core.settings import Settings

    settings = Settings(data_dir=Path("/nonexistent/archive-ledger"))  # never opened
    return create_app(SimpleNamespace(settings=settings), scheduler=False).openapi()  # type: ignore[arg-type]


def render(spec: dict[str, Any]) -> str:
    """Stable text: sorted keys, two-space indent, UTF-8 as is, one trailing newline."""
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    target = Path(argv[0]) if argv else DOC_PATH
    target.write_text(render(document()), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
