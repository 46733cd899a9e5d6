"""The database tables, as SQLAlchemy 2 typed models.

Times are UTC, stored without a zone (``utcnow()``). A call's full ``CallReport`` is kept as JSON;
segments, speakers and items are also stored as rows so review, insights and search can query them.
Deleting a call cascades to everything that belongs to it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("rep", "manager", "admin")
CALL_STATUSES = ("queued", "processing", "done", "failed")
JOB_STATUSES = ("queued", "running", "done", "failed")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    team: Mapped[str | None] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    tokens: Mapped[list[Token]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class Token(Base):
    """A bearer token (``api``, ``session``), a one-time ``login`` link or a read-only
    ``calendar`` feed token, stored as its sha256."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship(back_populates="tokens")


class Account(Base):
    """A customer: the calls with one company whatever spelling their uploads used (``key`` is
    the name with case and spacing folded, ``assistant.store.accounts.fold``). An account belongs
    to the team of the reps whose calls it holds (``""`` for users without a team), so two teams
    never share, rename or merge one."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("team", "key", name="uq_accounts_team_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team: Mapped[str] = mapped_column(String(100), default="")
    name: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (UniqueConstraint("owner_id", "sha256", name="uq_calls_owner_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    # The account's name as shown (kept equal to ``account.name``); empty: no customer given.
    customer: Mapped[str] = mapped_column(String(200), default="", index=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    call_date: Mapped[date | None] = mapped_column(Date, index=True)
    language_hint: Mapped[str | None] = mapped_column(String(8))
    filename: Mapped[str] = mapped_column(String(255), default="")
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    media_format: Mapped[str] = mapped_column(String(64), default="")
    media_kind: Mapped[str] = mapped_column(String(16), default="audio")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float | None] = mapped_column(Float)
    recording_deleted_at: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))
    overview: Mapped[str] = mapped_column(Text, default="")
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    pipeline_version: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    owner: Mapped[User] = relationship()
    account: Mapped[Account | None] = relationship()
    segments: Mapped[list[Segment]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Segment.start_s"
    )
    speakers: Mapped[list[Speaker]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Speaker.label"
    )
    items: Mapped[list[Item]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Item.start_s"
    )
    jobs: Mapped[list[Job]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Job.id"
    )


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (Index("ix_segments_call_position", "call_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # the segment's id inside its report
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    speaker: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))


class Speaker(Base):
    """A voice in one call: the label the diarizer gave, and the name and role people set."""

    __tablename__ = "speakers"
    __table_args__ = (UniqueConstraint("call_id", "label", name="uq_speakers_call_label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(16))
    talk_s: Mapped[float] = mapped_column(Float, default=0.0)


class Item(Base):
    """An extracted (``origin='model'``) or added (``'manual'``) item, with its review state."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    text: Mapped[str] = mapped_column(Text)
    quote: Mapped[str] = mapped_column(Text, default="")
    start_s: Mapped[float] = mapped_column(Float, default=0.0)
    end_s: Mapped[float] = mapped_column(Float, default=0.0)
    speaker: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    owner: Mapped[str | None] = mapped_column(String(100))
    due: Mapped[date | None] = mapped_column(Date)
    due_text: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(32))
    segment_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    origin: Mapped[str] = mapped_column(String(16), default="model")
    review: Mapped[str] = mapped_column(String(16), default="unreviewed", index=True)
    edited: Mapped[bool] = mapped_column(Boolean, default=False)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # An action item done (who and when; the item's history keeps each done and reopen), and
    # when the webhook event for it becoming overdue was sent (once per due date).
    done_at: Mapped[datetime | None] = mapped_column(DateTime)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    overdue_sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The text's sentence embedding for insights (float32, unit length; assistant.store.insights),
    # stored when the item is written and cleared when its text or kind changes. Loaded only
    # where insights ask for it.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])
    done_by: Mapped[User | None] = relationship(foreign_keys=[done_by_id])
    edits: Mapped[list[ItemEdit]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ItemEdit.id"
    )


class ItemEdit(Base):
    """One review action on an item: who, when, and each changed field as ``[old, new]``."""

    __tablename__ = "item_edits"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(16))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    user: Mapped[User | None] = relationship()


class WarningDismissal(Base):
    """A warning on an account that a person dismissed, with their reason. ``subject`` names
    what the warning was about (``assistant.warnings``), so the same kind of warning about
    something new shows again."""

    __tablename__ = "warning_dismissals"
    __table_args__ = (
        UniqueConstraint("account_id", "kind", "subject", name="uq_dismissals_warning"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User | None] = relationship()


JOB_KINDS = ("analysis", "voice")


class Job(Base):
    """One run of work in a worker: the pipeline over one call's recording (``analysis``), or
    a user's voice enrollment from a recording of them (``voice``; no call, ``user_id`` set,
    the stored upload named in ``options``)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "status", "run_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="analysis", server_default="analysis")
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="queued")
    stage: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    # What kind of failure ``error`` is (``assistant.errors``: an error class's ``kind``,
    # ``unexpected`` or ``worker_lost``); empty for jobs that failed before kinds were stored.
    error_kind: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    worker: Mapped[str | None] = mapped_column(String(100))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    run_after: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    pipeline_version: Mapped[str] = mapped_column(String(32), default="")
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def speech_s(self) -> float | None:
        """A finished voice job: seconds of the user's speech the profile is made from."""
        value = (self.options or {}).get("speech_s")
        return float(value) if value is not None else None


class Webhook(Base):
    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WebhookDelivery(Base):
    """A signed POST still to make (``pending``), made (``delivered``) or given up (``failed``)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    response_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
