"""Public verification routes: proof bundles, verification, the verifier's key. No key needed:
an outside auditor must be able to use them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from anchor.bundles import proof_bundle
from anchor.models import Log
from node.core.context import NodeContext
from node.core.deps import get_ctx
from node.core.errors import NotFound
from node.core.models import Item
from node.core.schemas import ProofBundle
from node.core.types import Bool, JsonSafeObject
from node.trust.schemas import Verified, VerifierKey

router = APIRouter(tags=["proofs"])
Ctx = Annotated[NodeContext, Depends(get_ctx)]


class VerifyRequest(BaseModel):
    bundle: JsonSafeObject
    content_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    certificate: Bool = False


@router.get("/items/{item_id}/proof", response_model=ProofBundle)
def get_proof(item_id: str, ctx: Ctx, against: Literal["first", "latest"] = "first") -> dict[str, Any]:
    """The proof bundle. 409 while no confirmed checkpoint covers the item."""
    with ctx.reader() as s:
        item = s.get(Item, item_id)
        if item is None:
            raise NotFound(f"no item {item_id}", reason="item_not_found")
        return proof_bundle(s, s.get(Log, item.log_pk), item.leaf_index, against)  # type: ignore[arg-type]


@router.post("/verify", response_model=Verified)
def verify(body: VerifyRequest, ctx: Ctx) -> dict[str, Any]:
    """Verify a proof bundle against this node's own trust root and chain (the bundle's own contract
    address and chain id are only compared with them); optionally as a signed certificate."""
    result = ctx.verify_proof(body.bundle, content_sha256=body.content_sha256.lower() if body.content_sha256 else None)
    answer: dict[str, Any] = {"result": result.to_dict()}
    if body.certificate:
        answer["certificate"] = ctx.certify(result, body.bundle)
    return answer


@router.get("/verifier/key", response_model=VerifierKey)
def verifier_key(ctx: Ctx) -> dict[str, str]:
    return {"algorithm": "Ed25519", "public_key": ctx.verifier_key.verify_key.encode().hex()}
