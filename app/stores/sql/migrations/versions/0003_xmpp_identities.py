"""XMPP identities: an account may name its XMPP address, and bots are accounts owned by a
person.

``xmpp_jid`` is the bare JID whose pubsub affiliations mirror the account's roles (a
person's own XMPP account, or a bot's); ``bot_owner`` is set for bots, which never sign in
with a password and are listed and removed by their owner.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot add a unique column in place.
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("xmpp_jid", sa.String(255), nullable=True))
        batch.add_column(sa.Column("bot_owner", sa.String(32), nullable=True))
        batch.create_index("ix_accounts_xmpp_jid", ["xmpp_jid"], unique=True)
        batch.create_index("ix_accounts_bot_owner", ["bot_owner"])


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_index("ix_accounts_bot_owner")
        batch.drop_index("ix_accounts_xmpp_jid")
        batch.drop_column("bot_owner")
        batch.drop_column("xmpp_jid")
