"""Revisions carry their author's typing intent (sync/intent.py), so that edits rebased over
them later break ties at one position as their authors' clients did.

Existing revisions get NULL, which reads as "none": what they were sequenced with.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("revisions", sa.Column("intent", sa.String(16), nullable=True))


def downgrade() -> None:
    # Batch mode: older SQLite cannot drop a column in place.
    with op.batch_alter_table("revisions") as batch:
        batch.drop_column("intent")
