"""The schema: documents, their revision log and periodic text snapshots."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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


class SnapshotRow(Base):
    __tablename__ = "snapshots"

    doc_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    rev: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)


Index("ix_documents_title", DocumentRow.title)
