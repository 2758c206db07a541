"""The schema: documents, their revision log and periodic text snapshots."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class DocumentRow(Base):
    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    head_rev: Mapped[int] = mapped_column(Integer, default=0)
    # Length and checksum of the text at head_rev, so listings need no text.
    length: Mapped[int] = mapped_column(Integer, default=0)
    checksum: Mapped[str] = mapped_column(String(32))


class RevisionRow(Base):
    __tablename__ = "revisions"
    __table_args__ = (
        # An operation id is applied once per document, whichever process sequences it.
        UniqueConstraint("doc_id", "client", "seq", name="uq_revisions_operation"),
    )

    doc_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    rev: Mapped[int] = mapped_column(Integer, primary_key=True)
    base: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(Text)
    client: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    patch: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    # The author's typing intent ("forward" or "backward", sync/intent.py); NULL is "none",
    # as every revision stored before intents has.
    intent: Mapped[str | None] = mapped_column(String(16), nullable=True, default=None)


class SnapshotRow(Base):
    __tablename__ = "snapshots"

    doc_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    rev: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)


Index("ix_documents_title", DocumentRow.title)


# -- people and permissions (app/core/accounts.py) --------------------------------------------
# Secrets are kept as SHA-256 digests (hex, 64 characters); passwords as Argon2id hashes.
# Roles and links name documents without a foreign key: the document service forgets them
# when it deletes a document, on every database alike.


class AccountRow(Base):
    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(Text)
    admin: Mapped[bool] = mapped_column(Boolean)
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The bare JID whose pubsub affiliations mirror this account's roles (app/buses/xmpp).
    xmpp_jid: Mapped[str | None] = mapped_column(
        String(255), nullable=True, unique=True, index=True
    )
    bot_owner: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)


class SessionRow(Base):
    __tablename__ = "sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(32), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TokenRow(Base):
    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class InviteRow(Base):
    __tablename__ = "invites"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AddressClaimRow(Base):
    """A person's pending claim to an XMPP address (app/core/xmpp_links.py): one per account."""

    __tablename__ = "address_claims"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GrantRow(Base):
    __tablename__ = "grants"

    doc_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))


class LinkRow(Base):
    __tablename__ = "share_links"

    doc_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LeaseRow(Base):
    """Which instance sequences a document (app/core/leases.py). No foreign key: a lease of a
    deleted document expires and is reused or ignored."""

    __tablename__ = "sequencer_leases"

    doc_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VersionRow(Base):
    """A named version: a label on one revision of a document (app/core/versions.py)."""

    __tablename__ = "versions"

    doc_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    rev: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
