"""Indexes the web UI's lists need at 340,000 items (bench/ui.py): items newest first, and the audit trail
filtered by action or actor, newest first

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 00:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_items_created", "items", ["created_at", "id"], unique=False)
    op.create_index("ix_audit_events_action_seq", "audit_events", ["action", "seq"], unique=False)
    op.create_index("ix_audit_events_principal_seq", "audit_events", ["principal_id", "seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_events_principal_seq", table_name="audit_events")
    op.drop_index("ix_audit_events_action_seq", table_name="audit_events")
    op.drop_index("ix_items_created", table_name="items")
