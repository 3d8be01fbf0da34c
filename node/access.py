"""Who may read an item's content. The one place GET /items/{id}/content asks; the lending workflow
adds the borrower-with-a-valid-permit branch here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.errors import Forbidden
from node.roles import Action

if TYPE_CHECKING:
    from node.api.deps import Principal
    from node.context import NodeContext
    from node.models import Item


def authorize_content(ctx: NodeContext, principal: Principal, item: Item) -> None:
    """Return if `principal` may fetch the bytes of `item`; raise Forbidden (403) otherwise."""
    if not principal.covers(item.fonds_code):
        raise Forbidden(f"{principal.kind} {principal.name!r} is not allowed on fonds {item.fonds_code!r}",
                        reason="fonds_forbidden")  # fmt: skip
    if principal.may(Action.ITEMS_CONTENT):
        return
    raise Forbidden(f"{principal.kind} {principal.name!r} may not read the content of item {item.id}")
