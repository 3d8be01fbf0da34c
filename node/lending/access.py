"""Who may read an item's content. The one place GET /items/{id}/content asks; the lending workflow
adds the borrower-with-a-valid-permit branch here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.core.errors import Conflict, Forbidden
from node.core.principal import check_fonds
from node.core.roles import Action

if TYPE_CHECKING:
    from node.audit.request import RequestAudit
    from node.core.context import NodeContext
    from node.core.models import Item
    from node.core.principal import Principal
    from node.lending.service import Access


def authorize_content(
    ctx: NodeContext, principal: Principal, item: Item, *, audit: RequestAudit | None = None
) -> Access | None:
    """Return if `principal` may fetch the bytes of `item`; raise Forbidden (403) otherwise.

    Holders of items:content get None. A user without it (a borrower) gets the `Access` of their
    loan: only while a loan of theirs for this item is APPROVED and its permit is valid on chain now
    (node/lending/service.py, node/lending/permits.py). `audit` (the request's) receives the loan and permit
    for the audit event of the fetch, allowed or refused."""
    check_fonds(principal, item.fonds_code)
    if principal.may(Action.ITEMS_CONTENT):
        return None
    # The permit branch is for borrowers only, checked at every fetch: an account whose borrower role
    # was revoked (or that became an officer, e.g. the system admin) keeps no access through old loans.
    if principal.kind == "user" and principal.may(Action.LOANS_REQUEST):
        access = ctx.lending().content_access(principal, item.id)
        if audit is not None:
            audit.declare(permit_check=access.reason, loan_id=access.loan_id, permit_id=access.permit_id,
                          block=access.block)  # fmt: skip
        if access.allowed:
            return access
        if access.reason == "physical_record":
            raise Conflict(
                f"item {item.id} is a physical record: fetch it with the check-out slip of loan {access.loan_id} "
                f"(GET /loans/{access.loan_id}/slip)", reason="physical_record",
            )  # fmt: skip
        if access.reason != "no_loan":
            raise Forbidden(
                f"no valid permit for item {item.id}: {access.reason.replace('_', ' ')}", reason=access.reason
            )
    raise Forbidden(f"{principal.kind} {principal.name!r} may not read the content of item {item.id}")
