"""item_texts: the text extracted from each item (search, issue 10)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 20:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "item_texts",
        sa.Column("item_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("ocr_pages", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extracted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.PrimaryKeyConstraint("item_id"),
    )
    with op.batch_alter_table("item_texts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_texts_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item_texts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_texts_status"))
    op.drop_table("item_texts")
