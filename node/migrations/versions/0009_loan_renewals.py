"""loans.renewal_of and loans.renewal_reason: a renewal (续借) is a loan linked to the one it renews

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 23:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("renewal_of", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("renewal_reason", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_loans_renewal_of"), ["renewal_of"], unique=False)
        batch_op.create_foreign_key("fk_loans_renewal_of_loans", "loans", ["renewal_of"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_constraint("fk_loans_renewal_of_loans", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_loans_renewal_of"))
        batch_op.drop_column("renewal_reason")
        batch_op.drop_column("renewal_of")
