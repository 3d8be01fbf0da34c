"""submissions.block_hash and chain_rollbacks (anchors lost by a chain rollback, re-anchored)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 17:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chain_rollbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("log_pk", sa.Integer(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chain_size", sa.BigInteger(), nullable=False),
        sa.Column("lost_sizes", sa.Text(), nullable=False),
        sa.Column("lost_count", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("tx_hashes", sa.Text(), nullable=False),
        sa.Column("reanchored_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["log_pk"], ["logs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("chain_rollbacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chain_rollbacks_log_pk"), ["log_pk"], unique=False)
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("block_hash", sa.String(length=66), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_column("block_hash")
    with op.batch_alter_table("chain_rollbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_rollbacks_log_pk"))
    op.drop_table("chain_rollbacks")
