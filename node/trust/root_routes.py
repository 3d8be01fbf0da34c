"""GET /trust: the node's trust root, public (an auditor pins it once and checks every later version
against it; the node's word alone is never what makes a record verify)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from node.core.context import NodeContext
from node.core.deps import get_ctx
from node.core.errors import NotFound
from node.trust.schemas import TrustRootDocument
from verifier.trustroot import canonical_document_bytes

router = APIRouter(tags=["trust"])
Ctx = Annotated[NodeContext, Depends(get_ctx)]


@router.get("/trust", response_model=TrustRootDocument)
def get_trust(ctx: Ctx) -> Response:
    """The current trust root document, RFC 8785 canonical bytes (what `archive-ledger trust export` writes)."""
    if ctx.trust_root is None:
        raise NotFound(
            "this node has no trust root yet (data dir initialised before trust roots existed): "
            "run `archive-ledger trust issue --data-dir DIR --officer USER=PASSWORD_FILE "
            "--officer USER=PASSWORD_FILE`, then restart the node",
            reason="no_trust_root",
        )
    return Response(content=canonical_document_bytes(ctx.trust_root.document), media_type="application/json")
