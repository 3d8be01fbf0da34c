"""Response models of the loan and permit routes."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from node.core.schemas import Answer, Certificate, OpenObject


class LoanItem(Answer):
    item_id: str
    fonds: str
    title: str
    medium: str = Field(description="digital or physical")
    permit_id: str | None
    tx_hash: str | None
    revoke_tx_hash: str | None


class LoanView(Answer):
    id: str
    borrower_id: str
    purpose: str
    not_before: str
    expires_at: str
    status: str = Field(description="REQUESTED, APPROVED, REJECTED, REVOKED, RETURNED, EXPIRED or RENEWED")
    reason: str | None
    requested_at: str
    decided_at: str | None
    decided_by: str | None
    approver_address: str | None
    ended_at: str | None
    ended_by: str | None
    renewal_of: str | None = Field(description="a renewal (续借): the loan it renews (RENEWED once it is approved)")
    renewal_reason: str | None = Field(description="a renewal: why the borrower asks for more time")
    items: list[LoanItem]


class LoanList(Answer):
    loans: list[LoanView]


class Eip712Domain(Answer):
    name: str
    version: str
    chainId: int
    verifyingContract: str


class PermitToSign(Answer):
    item_id: str
    permit_id: str
    permit: OpenObject = Field(description="the EIP-712 Permit message (log_id, item_key, grantee, times, loan_id)")


class TypedData(Answer):
    domain: Eip712Domain
    permits: list[PermitToSign]


class ItemCertificate(Answer):
    item_id: str
    permit_id: str
    certificate: Certificate | None


class LoanCertificates(Answer):
    loan_id: str
    certificates: list[ItemCertificate]


class SlipRecord(Answer):
    item_id: str
    archival_code: str | None
    title: str
    fonds: str
    box: Any = Field(default=None, description="from the item's metadata (extra.box)")
    shelf: Any = Field(default=None, description="from the item's metadata (extra.shelf)")
    permit_id: str | None


class Slip(Answer):
    """The check-out slip of an approved loan's physical records."""

    loan_id: str
    borrower_id: str
    purpose: str
    approved_by: str | None
    approver_address: str | None
    not_before: str
    due: str
    records: list[SlipRecord]


class PermitOnChain(Answer):
    """What the chain says about a permit now (`error` when it cannot be read)."""

    block: int | None = None
    valid_now: bool | None = None
    permit: OpenObject | None = None
    error: str | None = None


class PermitView(Answer):
    permit_id: str
    loan_id: str
    item_id: str
    log_id: str
    item_key: str
    grantee: str
    not_before: int
    expires_at: int
    signer: str
    contract: str
    chain_id: int
    tx_hash: str
    block_number: int
    revoke_tx_hash: str | None
    loan_status: str
    chain: PermitOnChain
