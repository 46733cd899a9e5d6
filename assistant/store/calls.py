"""Calls and what belongs to them: results, review, deletion, retention.

Who may see a call is ``assistant.store.access.visible``; anything outside it is "not found", so
ids cannot be probed. Whoever may see a call may also review it.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, delete, event, func, or_, select
from sqlalchemy.orm import Session, selectinload

from assistant import PIPELINE_VERSION
from assistant.errors import OptionError
from assistant.report import CallReport
from assistant.report import Item as ReportItem
from assistant.store import search
from assistant.store.access import visible
from assistant.store.accounts import account_for
from assistant.store.errors import NotFoundError
from assistant.store.tables import (
    Call,
    Item,
    ItemEdit,
    Job,
    Segment,
    Speaker,
    User,
    utcnow,
)

ITEM_KINDS = ("action_item", "customer_need", "objection")
OBJECTION_CATEGORIES = ("price", "timing", "competitor", "authority", "need", "trust", "other")
SPEAKER_ROLES = ("rep", "customer")
CALLS_PER_QUERY = 500


def recording_path(recordings_dir: Path, sha256: str) -> Path:
    """Where a recording lives: named by its content hash, never by the uploader's filename."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise OptionError(f"not a sha256: {sha256!r}")
    return recordings_dir / sha256[:2] / sha256


@contextmanager
def recording_lock(recordings_dir: Path, sha256: str) -> Iterator[Path]:
    """Hold the lock of one recording's file; yields where the file lives.

    Whoever decides about the file holds the lock until that decision is committed: an upload
    from looking for the file until its call is committed, a deletion from counting the calls
    that still hold the file until it has unlinked it. So a deletion never removes a file that
    an upload has just reused, and an upload never counts on a file that is about to go.
    The lock is ``flock`` on the file's folder: it holds between threads and processes of one
    machine, and leaves no file behind.
    """
    path = recording_path(recordings_dir, sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _waiting_for_recording(sha256)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def _waiting_for_recording(sha256: str) -> None:
    """Called when another thread or process holds the recording's lock, before waiting."""


def get_call(session: Session, user: User, call_id: int) -> Call:
    call = session.scalar(select(Call).where(Call.id == call_id, visible(user)))
    if call is None:
        raise NotFoundError(f"No call {call_id}")
    return call


def get_item(session: Session, user: User, item_id: int) -> Item:
    item = session.scalar(
        select(Item).join(Call, Item.call_id == Call.id).where(Item.id == item_id, visible(user))
    )
    if item is None:
        raise NotFoundError(f"No item {item_id}")
    return item


def latest_job(session: Session, call: Call) -> Job | None:
    return session.scalar(select(Job).where(Job.call_id == call.id).order_by(Job.id.desc()))


@dataclass(frozen=True)
class NewCall:
    sha256: str
    filename: str
    size_bytes: int
    media_format: str
    media_kind: str
    duration_s: float | None
    title: str = ""
    customer: str = ""
    call_date: date | None = None
    language: str | None = None


def create_call(
    session: Session, owner: User, new: NewCall, max_attempts: int = 3
) -> tuple[Call, Job, bool]:
    """A call and its job; the same recording uploaded again by the same owner returns the
    existing call and job (``created`` is False)."""
    existing = session.scalar(
        select(Call).where(Call.owner_id == owner.id, Call.sha256 == new.sha256)
    )
    if existing is not None:
        job = latest_job(session, existing)
        if job is not None:
            return existing, job, False
        job = Job(call_id=existing.id, max_attempts=max_attempts, pipeline_version=PIPELINE_VERSION)
        session.add(job)
        session.flush()
        return existing, job, False
    account = account_for(session, owner, new.customer)
    call = Call(
        owner_id=owner.id,
        title=new.title or new.filename,
        customer=account.name if account else "",
        account_id=account.id if account else None,
        call_date=new.call_date,
        language_hint=new.language,
        filename=new.filename,
        sha256=new.sha256,
        media_format=new.media_format,
        media_kind=new.media_kind,
        size_bytes=new.size_bytes,
        duration_s=new.duration_s,
        status="queued",
    )
    session.add(call)
    session.flush()
    job = Job(
        call_id=call.id,
        max_attempts=max_attempts,
        pipeline_version=PIPELINE_VERSION,
        options={"language": new.language, "call_date": str(new.call_date or "") or None},
    )
    session.add(job)
    session.flush()
    return call, job, True


@dataclass(frozen=True)
class CallFilter:
    rep: str | None = None
    customer: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    status: str | None = None
    q: str | None = None


def _filtered(user: User, f: CallFilter, dialect: str) -> Select[Call]:
    query = select(Call).where(visible(user))
    if f.rep:
        query = query.where(Call.owner_id.in_(select(User.id).where(User.name == f.rep)))
    if f.customer:
        query = query.where(func.lower(Call.customer).contains(f.customer.lower(), autoescape=True))
    if f.date_from:
        query = query.where(
            func.coalesce(Call.call_date, func.date(Call.created_at)) >= f.date_from
        )
    if f.date_to:
        query = query.where(func.coalesce(Call.call_date, func.date(Call.created_at)) <= f.date_to)
    if f.status:
        query = query.where(Call.status == f.status)
    if f.q:
        text_match = search.matching_calls(f.q, dialect)
        words = f.q.lower()
        query = query.where(
            or_(
                func.lower(Call.title).contains(words, autoescape=True),
                func.lower(Call.customer).contains(words, autoescape=True),
                Call.id.in_(text_match),
            )
        )
    return query


# What a list of calls can be sorted by; "created" is when the call was uploaded.
CALL_SORTS = ("created", "date", "title", "customer", "rep", "status", "duration")


def list_calls(
    session: Session,
    user: User,
    f: CallFilter,
    offset: int = 0,
    limit: int = 50,
    sort: str = "created",
    descending: bool = True,
) -> tuple[list[Call], int]:
    """One page of the calls ``user`` may see that match ``f``, and how many match in all."""
    dialect = session.get_bind().dialect.name
    query = _filtered(user, f, dialect)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        _sorted(query, sort, descending)
        .options(selectinload(Call.owner), selectinload(Call.jobs))
        .offset(offset)
        .limit(limit)
    )
    return list(rows), count


def _sorted(query: Select[Call], sort: str, descending: bool) -> Select[Call]:
    if sort == "created":
        return query.order_by(Call.created_at.desc(), Call.id.desc())
    day = func.coalesce(Call.call_date, func.date(Call.created_at))
    columns = {
        "date": day,
        "title": func.lower(Call.title),
        "customer": func.lower(Call.customer),
        "rep": User.name,
        "status": Call.status,
        "duration": Call.duration_s,
    }
    column = columns[sort]
    if sort == "rep":
        query = query.join(User, User.id == Call.owner_id)
    order = column.desc() if descending else column.asc()
    tie = Call.id.desc() if descending else Call.id.asc()
    return query.order_by(order, Call.created_at.desc(), tie)


def item_counts(session: Session, ids: list[int]) -> dict[int, Counter[str]]:
    """{call id: {item kind: items not rejected}} for the calls ``ids``."""
    counts: dict[int, Counter[str]] = {i: Counter() for i in ids}
    if not ids:
        return counts
    rows = session.execute(
        select(Item.call_id, Item.kind, func.count(Item.id))
        .where(Item.call_id.in_(ids), Item.review != "rejected")
        .group_by(Item.call_id, Item.kind)
    )
    for call_id, kind, n in rows:
        counts[call_id][kind] = n
    return counts


def _speaker_talk(report: CallReport) -> dict[str, tuple[float, str | None]]:
    talk: dict[str, tuple[float, str | None]] = {}
    for seg in report.segments:
        if seg.speaker:
            seconds, role = talk.get(seg.speaker, (0.0, None))
            talk[seg.speaker] = (seconds + seg.end_s - seg.start_s, role or seg.role)
    return talk


def save_report(
    session: Session,
    call: Call,
    report: CallReport,
    embeddings: dict[int, bytes] | None = None,
) -> None:
    """Store a finished report: replaces the call's earlier model results (a re-run never leaves
    two sets) and keeps items people added by hand. ``embeddings`` holds the stored sentence
    embeddings of items by their id in the report (``assistant.store.insights``)."""
    dialect = session.get_bind().dialect.name
    search.unindex_call(session, call.id, dialect, keep_manual=True)
    session.execute(delete(Segment).where(Segment.call_id == call.id))
    session.execute(delete(Speaker).where(Speaker.call_id == call.id))
    session.execute(delete(Item).where(Item.call_id == call.id, Item.origin == "model"))
    segments = [
        Segment(
            call_id=call.id,
            position=s.id,
            start_s=s.start_s,
            end_s=s.end_s,
            text=s.text,
            speaker=s.speaker,
            role=s.role,
            language=s.language,
        )
        for s in report.segments
    ]
    session.add_all(segments)
    for label, (talk_s, role) in sorted(_speaker_talk(report).items()):
        session.add(Speaker(call_id=call.id, label=label, role=role, talk_s=round(talk_s, 3)))
    items = [_item_row(call.id, i, (embeddings or {}).get(i.id)) for i in report.items]
    session.add_all(items)
    session.flush()
    search.index_rows(session, call.id, segments, items, dialect)
    call.report = report.model_dump(mode="json")
    call.language = report.language
    call.duration_s = report.source.duration_s
    call.overview = report.summary.overview if report.summary else ""
    call.pipeline_version = report.provenance.pipeline_version
    call.status = "done"
    call.error = None


def _item_row(call_id: int, item: ReportItem, embedding: bytes | None = None) -> Item:
    return Item(
        call_id=call_id,
        position=item.id,
        kind=item.kind,
        text=item.text,
        quote=item.quote,
        start_s=item.start_s,
        end_s=item.end_s,
        speaker=item.speaker,
        role=item.role,
        confidence=item.confidence,
        owner=item.owner,
        due=item.due,
        due_text=item.due_text,
        category=item.category,
        segment_ids=list(item.segment_ids),
        origin="model",
        embedding=embedding,
    )


# What a report needs of an item row (plain columns: the same for one call and for hundreds).
_ITEM_COLUMNS = (
    "id",
    "kind",
    "text",
    "quote",
    "start_s",
    "end_s",
    "speaker",
    "role",
    "confidence",
    "owner",
    "due",
    "due_text",
    "category",
)


def _reviewed(
    report: CallReport,
    speakers: dict[str, tuple[str | None, str | None]],
    items: list[Any],
) -> CallReport:
    """A stored report with people's review applied: ``speakers`` {label: (name, role)} and the
    call's item rows that were not rejected."""
    segments = []
    for seg in report.segments:
        name, role = speakers.get(seg.speaker or "", (None, None))
        speaker, role = name or seg.speaker, role or seg.role
        if (speaker, role) != (seg.speaker, seg.role):
            seg = seg.model_copy(update={"speaker": speaker, "role": role})
        segments.append(seg)
    rows = [
        ReportItem(
            **{c: getattr(row, c) for c in _ITEM_COLUMNS},
            segment_ids=[int(i) for i in row.segment_ids or []],
        )
        for row in items
    ]
    return report.model_copy(update={"segments": segments, "items": rows})


class _Parsed:
    """Stored reports parsed without their words, kept per process by (database, call,
    updated_at): a report is only written by ``save_report``, which changes ``updated_at``.
    Reading an account's page parses each call's report once, not on every request."""

    SIZE = 4000

    def __init__(self) -> None:
        self._reports: OrderedDict[tuple[str, int, datetime], CallReport] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, datetime]) -> CallReport | None:
        with self._lock:
            report = self._reports.get(key)
            if report is not None:
                self._reports.move_to_end(key)
            return report

    def put(self, key: tuple[str, int, datetime], report: CallReport) -> None:
        with self._lock:
            self._reports[key] = report
            while len(self._reports) > self.SIZE:
                self._reports.popitem(last=False)


_PARSED = _Parsed()


def current_report(call: Call) -> CallReport | None:
    """The stored report with people's review applied: names and roles of speakers, edited
    items, added items; rejected items left out."""
    if call.report is None:
        return None
    speakers = {s.label: (s.name, s.role) for s in call.speakers}
    report = CallReport.model_validate(call.report)
    return _reviewed(report, speakers, [i for i in call.items if i.review != "rejected"])


def current_reports(session: Session, call_ids: list[int]) -> list[tuple[int, CallReport]]:
    """``current_report`` of many calls (those with a report, in the order given) without the
    words of the segments (reading a whole account needs the turns, not every word's timing):
    items and speakers read in one query each, reports parsed once per process (``_Parsed``)."""
    database = session.get_bind().engine.url.render_as_string()
    found: dict[int, CallReport] = {}
    for start in range(0, len(call_ids), CALLS_PER_QUERY):
        chunk = call_ids[start : start + CALLS_PER_QUERY]
        rows = session.execute(
            select(Call.id, Call.updated_at).where(Call.id.in_(chunk), Call.report.is_not(None))
        )
        stamps = {call_id: at for call_id, at in rows}
        parsed = {i: _PARSED.get((database, i, at)) for i, at in stamps.items()}
        missing = [i for i, report in parsed.items() if report is None]
        if missing:
            for call_id, stored in session.execute(
                select(Call.id, Call.report).where(Call.id.in_(missing))
            ):
                if stored is None:
                    continue
                stored = {**stored, "segments": [{**s, "words": []} for s in stored["segments"]]}
                report = CallReport.model_validate(stored)
                _PARSED.put((database, call_id, stamps[call_id]), report)
                parsed[call_id] = report
        items: dict[int, list[Any]] = {i: [] for i in chunk}
        for row in session.execute(
            select(Item.call_id, Item.segment_ids, *(getattr(Item, c) for c in _ITEM_COLUMNS))
            .where(Item.call_id.in_(chunk), Item.review != "rejected")
            .order_by(Item.call_id, Item.start_s, Item.id)
        ):
            items[row.call_id].append(row)
        speakers: dict[int, dict[str, tuple[str | None, str | None]]] = {i: {} for i in chunk}
        for row in session.execute(
            select(Speaker.call_id, Speaker.label, Speaker.name, Speaker.role).where(
                Speaker.call_id.in_(chunk)
            )
        ):
            speakers[row.call_id][row.label] = (row.name, row.role)
        for call_id, kept in parsed.items():
            if kept is not None:
                found[call_id] = _reviewed(kept, speakers[call_id], items[call_id])
    return [(i, found[i]) for i in call_ids if i in found]


def check_item_fields(fields: dict[str, Any]) -> None:
    kind = fields.get("kind")
    if "kind" in fields and kind is None:
        raise OptionError(f"An item needs a kind; expected one of: {', '.join(ITEM_KINDS)}")
    if kind is not None and kind not in ITEM_KINDS:
        raise OptionError(f"Unknown item kind {kind!r}; expected one of: {', '.join(ITEM_KINDS)}")
    category = fields.get("category")
    if category is not None and category not in OBJECTION_CATEGORIES:
        raise OptionError(
            f"Unknown category {category!r}; expected one of: {', '.join(OBJECTION_CATEGORIES)}"
        )
    if "text" in fields and not (fields["text"] or "").strip():
        raise OptionError("An item needs a text")


def add_item(session: Session, user: User, call: Call, fields: dict[str, Any]) -> Item:
    """An item the model missed, added by a person; it counts as accepted."""
    check_item_fields(fields)
    if call.duration_s is not None and fields.get("start_s", 0.0) > call.duration_s + 1:
        raise OptionError(
            f"start_s {fields['start_s']} is after the end of the call ({call.duration_s:.1f} s)"
        )
    item = Item(
        call_id=call.id,
        origin="manual",
        review="accepted",
        reviewed_by_id=user.id,
        reviewed_at=utcnow(),
        confidence=1.0,
        **fields,
    )
    if item.end_s < item.start_s:
        item.end_s = item.start_s
    session.add(item)
    session.flush()
    session.add(ItemEdit(item_id=item.id, user_id=user.id, action="add", changes={}))
    search.index_item(session, item, session.get_bind().dialect.name)
    return item


EDITABLE = ("text", "owner", "due", "category", "kind")


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, date | datetime) else value


def review_item(
    session: Session, user: User, item: Item, review: str | None, changes: dict[str, Any]
) -> Item:
    """Accept, reject or edit an item; each call records who changed what, and when."""
    check_item_fields(changes)
    diff: dict[str, list[object]] = {}
    for name, value in changes.items():
        if name not in EDITABLE:
            raise OptionError(f"{name!r} cannot be edited; editable: {', '.join(EDITABLE)}")
        old = getattr(item, name)
        if old != value:
            diff[name] = [_jsonable(old), _jsonable(value)]
            setattr(item, name, value)
    if review is not None and review != item.review:
        diff["review"] = [item.review, review]
        item.review = review
    elif diff and item.review == "unreviewed":
        # Editing an item is a judgement that it is right once edited.
        diff["review"] = [item.review, "accepted"]
        item.review = "accepted"
    if not diff:
        return item
    if any(name in EDITABLE for name in diff):
        item.edited = True
    if "due" in diff:
        item.overdue_sent_at = None  # a new due date may become overdue again
    if "text" in diff or "kind" in diff:
        item.embedding = None  # made again for the new text (assistant.store.insights)
    item.reviewed_by_id = user.id
    item.reviewed_at = utcnow()
    action = "edit" if any(n in EDITABLE for n in diff) else (review or "edit")
    session.add(ItemEdit(item_id=item.id, user_id=user.id, action=action, changes=diff))
    if "text" in diff:
        search.index_item(session, item, session.get_bind().dialect.name)
    session.flush()
    return item


def update_speakers(session: Session, call: Call, updates: list[dict[str, Any]]) -> list[Speaker]:
    """Set names and roles of a call's speakers; roles flow to segments and items."""
    by_label = {s.label: s for s in call.speakers}
    for update in updates:
        label = update["label"]
        speaker = by_label.get(label)
        if speaker is None:
            known = ", ".join(sorted(by_label)) or "none yet"
            raise OptionError(f"No speaker {label!r} in call {call.id}; speakers: {known}")
        if "role" in update:
            role = update["role"]
            if role is not None and role not in SPEAKER_ROLES:
                raise OptionError(f"Unknown role {role!r}; expected one of: rep, customer")
            speaker.role = role
            for seg in call.segments:
                if seg.speaker == label:
                    seg.role = role
            for item in call.items:
                if item.speaker == label:
                    item.role = role
        if "name" in update:
            speaker.name = update["name"] or None
    session.flush()
    return list(call.speakers)


def remove_recording_if_unused(db: Session | Engine, recordings_dir: Path, sha256: str) -> bool:
    """Delete the file for ``sha256`` unless a call still holds it (and keeps it).

    Call it once the change that let go of the file is committed, never inside that
    transaction. It counts on a connection of its own, holding the recording's lock, so it sees
    every committed call, and an upload that reused the file is either committed and counted or
    waits and then brings the file back."""
    bind = db.get_bind() if isinstance(db, Session) else db
    engine = bind if isinstance(bind, Engine) else bind.engine
    with recording_lock(recordings_dir, sha256) as path, engine.connect() as connection:
        others = connection.scalar(
            select(func.count(Call.id)).where(
                Call.sha256 == sha256, Call.recording_deleted_at.is_(None)
            )
        )
        if others:
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True


def delete_call(session: Session, call: Call) -> str:
    """Delete a call and everything that belongs to it; returns its sha256 so the caller can
    remove the recording once the deletion is committed."""
    search.unindex_call(session, call.id, session.get_bind().dialect.name)
    sha256 = call.sha256
    session.delete(call)
    session.flush()
    return sha256


def expire_recordings(
    session: Session, recordings_dir: Path, days: int, now: datetime | None = None
) -> int:
    """Retention: delete recordings of finished calls older than ``days``, keeping the
    transcripts, items and reports. Returns how many calls lost their recording; their files
    are removed when the session commits."""
    if days <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=days)
    calls = session.scalars(
        select(Call).where(
            Call.created_at < cutoff,
            Call.recording_deleted_at.is_(None),
            Call.status.in_(("done", "failed")),
        )
    ).all()
    for call in calls:
        call.recording_deleted_at = now or utcnow()
    session.flush()
    expired = {c.sha256 for c in calls}

    def remove_files(_: Session) -> None:
        for sha256 in sorted(expired):
            remove_recording_if_unused(session, recordings_dir, sha256)

    if expired:
        # The files go once the rows say so, never while another transaction may still reuse them.
        event.listen(session, "after_commit", remove_files, once=True)
    return len(calls)
