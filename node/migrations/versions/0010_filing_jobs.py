"""filing_jobs: transfer packages checked and filed in the background (web UI, issue 11)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 23:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "filing_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("items_total", sa.Integer(), nullable=False),
        sa.Column("items_checked", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.String(length=32), nullable=True),
        sa.Column("duplicate", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("principal_kind", sa.String(length=16), nullable=False),
        sa.Column("principal_id", sa.String(length=64), nullable=False),
        sa.Column("principal_name", sa.String(length=200), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("filing_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_filing_jobs_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_filing_jobs_principal_id"), ["principal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_filing_jobs_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("filing_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_filing_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_filing_jobs_principal_id"))
        batch_op.drop_index(batch_op.f("ix_filing_jobs_created_at"))
    op.drop_table("filing_jobs")
