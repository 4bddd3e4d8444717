"""Tables of the review desk: users and tokens, answer records with their versions and citations, reviews,
background jobs, and the append-only audit log. The schema is created and changed only by the Alembic
migrations in `api/migrations`; a test checks that they match these models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("staff", "consultant", "reviewer", "evaluator", "admin")
RECORD_STATUSES = ("draft", "approved", "rejected", "needs_rereview")


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base; JSON columns hold the assistant's output contract as it was."""


class User(Base):
    """A person with one role."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Token(Base):
    """A bearer token, stored only as its SHA-256 hash."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The admin who issued it (None: its holder, the command line, or the first start).
    issued_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Seen by someone other than its holder: signs in, but may not approve or reject until exchanged.
    provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    user: Mapped[User] = relationship()


class Conversation(Base):
    """A thread of questions and answers, one person's; each turn is an answer record of its own.

    Deleting one hides it from its owner and is audited; its records stay, as the review desk's evidence."""

    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    owner: Mapped[User] = relationship()
    turns: Mapped[list[Record]] = relationship(
        order_by="Record.turn",
        back_populates="conversation",
        primaryjoin="Conversation.id == foreign(Record.conversation_id)",
    )


class Record(Base):
    """An answer as asked, with its provenance, and where it stands in review."""

    __tablename__ = "records"
    __table_args__ = (Index("uq_records_conversation_turn", "conversation_id", "turn", unique=True),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    asker_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    abstained: Mapped[bool] = mapped_column(Boolean)
    abstain_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # The assistant's output contract exactly as returned: answer, claims, citations, retrieval, versions.
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    backend: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(40))
    index_version: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    # Why a once-approved answer must be looked at again: changed or removed sources, passage by passage.
    rereview: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    # The conversation it was asked in, and its place there (1, 2, …); None for answers asked before
    # conversations existed, or through the API without one.
    # (No database foreign key: migration 0004 explains why; the desk checks it.)
    conversation_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    turn: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    asker: Mapped[User] = relationship()
    conversation: Mapped[Conversation | None] = relationship(
        back_populates="turns", primaryjoin="foreign(Record.conversation_id) == Conversation.id"
    )
    versions: Mapped[list[Version]] = relationship(order_by="Version.version", back_populates="record")
    citations: Mapped[list[CitationRow]] = relationship(order_by="CitationRow.n", back_populates="record")
    reviews: Mapped[list[Review]] = relationship(order_by="Review.id", back_populates="record")
    feedback: Mapped[list[Feedback]] = relationship(order_by="Feedback.id")


class Version(Base):
    """One text of an answer: version 1 is the assistant's, later ones are people's edits, re-verified."""

    __tablename__ = "record_versions"
    __table_args__ = (UniqueConstraint("record_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    claims: Mapped[list[Any]] = mapped_column(JSON)
    diff: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    record: Mapped[Record] = relationship(back_populates="versions")
    author: Mapped[User | None] = relationship()


class CitationRow(Base):
    """A numbered source of a record: the document version (hash), page and its label, section, offsets and quote."""

    __tablename__ = "citations"
    __table_args__ = (UniqueConstraint("record_id", "n"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    n: Mapped[int] = mapped_column(Integer)
    document_id: Mapped[str] = mapped_column(String(64), index=True)
    file: Mapped[str] = mapped_column(String(400), index=True)
    title: Mapped[str] = mapped_column(Text)
    section: Mapped[str] = mapped_column(Text)
    page: Mapped[int] = mapped_column(Integer)
    quote: Mapped[str] = mapped_column(Text)
    chunk_id: Mapped[str] = mapped_column(String(64))
    quote_start: Mapped[int] = mapped_column(Integer)
    quote_end: Mapped[int] = mapped_column(Integer)
    doc_status: Mapped[str] = mapped_column(String(20), default="final")
    # "§4.2 Deviations" for a Word section, "p. 3 (OCR)" for a scanned page, "" for a plain page number.
    page_label: Mapped[str] = mapped_column(Text, default="", server_default="")
    record: Mapped[Record] = relationship(back_populates="citations")


class Review(Base):
    """A reviewer's decision on one version of a record."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    # The document hashes the approved version cited, so "approved on which version of which document" holds.
    documents: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    record: Mapped[Record] = relationship(back_populates="reviews")
    reviewer: Mapped[User] = relationship()


class Feedback(Base):
    """A reader's thumbs up or down on an answer, with a reason; one per person and answer (the latest)."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("record_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    helpful: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text, default="")
    # The version the reader rated: an edit after the rating does not inherit it silently.
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user: Mapped[User] = relationship()


class Job(Base):
    """Work done off the request path: an upload's ingest, a removal, an evaluation run."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The worker holding a running job ("host:pid:nonce"), when it last renewed its lease, and how many
    # times a worker has taken the job (a job whose worker died is taken again, up to a limit).
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AuditEntry(Base):
    """One action, chained to the one before by hash. The database refuses UPDATE and DELETE on this table."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_name: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
