"""Calls: upload, list, read, listen, export, delete; add items and set speakers."""

from __future__ import annotations

import os
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api import upload
from api.deps import CurrentUser, DatabaseDep, QueueDep, SessionDep, SettingsDep
from api.downloads import attachment
from api.schemas import (
    CallDetail,
    CallPublic,
    CallsPublic,
    Id,
    ItemCreate,
    ItemPublic,
    JobPublic,
    Message,
    SegmentPublic,
    SpeakerPublic,
    SpeakersUpdate,
    UploadAccepted,
)
from assistant.email_draft import draft_email
from assistant.errors import OptionError
from assistant.formats import render, to_csv
from assistant.jobs import lifecycle
from assistant.media import MediaOptions
from assistant.report import SHOWN
from assistant.settings import Settings
from assistant.store import Database, access, insights, voice
from assistant.store import calls as store
from assistant.store.tables import Call, Item, Job, User
from assistant.transcribe import check_language

router = APIRouter(prefix="/api/calls", tags=["calls"])

EXPORT_TYPES = {
    "json": "application/json",
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}
AUDIO_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "matroska,webm": "video/webm",
    "mov,mp4,m4a,3gp,3g2,mj2": "video/mp4",
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Message, "description": "No such call, or not one you may see"}
}

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string", "maxLength": 200},
                        "customer": {"type": "string", "maxLength": 200},
                        "call_date": {"type": "string", "format": "date"},
                        "language": {"type": "string", "enum": ["auto", "en", "de"]},
                        "rep": {"type": "string", "description": "Upload for this rep"},
                    },
                }
            }
        },
    }
}


def job_public(call: Call) -> JobPublic | None:
    return JobPublic.model_validate(call.jobs[-1]) if call.jobs else None


def call_public(call: Call) -> CallPublic:
    return CallPublic(
        id=call.id,
        title=call.title,
        customer=call.customer,
        call_date=call.call_date,
        rep=call.owner.name,
        status=call.status,
        error=call.error,
        filename=call.filename,
        sha256=call.sha256,
        media_kind=call.media_kind,
        size_bytes=call.size_bytes,
        duration_s=call.duration_s,
        language=call.language,
        overview=call.overview,
        has_recording=call.recording_deleted_at is None,
        created_at=call.created_at,
        job=job_public(call),
    )


def item_public(item: Item) -> ItemPublic:
    return ItemPublic.model_validate(
        {
            **{c: getattr(item, c) for c in ItemPublic.model_fields if hasattr(item, c)},
            "reviewed_by": item.reviewed_by.name if item.reviewed_by else None,
            "edits": [
                {
                    "at": e.at,
                    "user": e.user.name if e.user else None,
                    "action": e.action,
                    "changes": e.changes,
                }
                for e in item.edits
            ],
        }
    )


def _text(fields: dict[str, str], name: str, limit: int = 200) -> str:
    value = fields.get(name, "")
    if len(value) > limit:
        raise OptionError(f"{name} is longer than {limit} characters")
    return value


def _call_date(value: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise OptionError(f"call_date must look like 2026-03-31, not {value!r}") from None


def _owner(session: SessionDep, user: User, rep: str) -> User:
    if not rep or rep == user.name:
        return user
    owner = session.scalar(select(User).where(User.name == rep))
    if owner is None or not access.may_see_user(user, owner):
        raise OptionError(f"rep {rep!r}: no such user in your team")
    return owner


@router.post(
    "",
    status_code=202,
    response_model=UploadAccepted,
    openapi_extra=UPLOAD_BODY,
    responses={
        200: {"model": UploadAccepted, "description": "Uploaded before: the existing call"},
        400: {"model": Message, "description": "Not a well-formed multipart body"},
        413: {"model": Message, "description": "Over the size or duration limit"},
        415: {"model": Message, "description": "Not multipart, or the file is not audio/video"},
        422: {"model": Message, "description": "Missing fields or unusable media"},
        507: {"model": Message, "description": "The server cannot store the recording"},
    },
)
async def upload_call(
    request: Request,
    user: CurrentUser,
    settings: SettingsDep,
    db: DatabaseDep,
    queue: QueueDep,
) -> Response:
    """Upload a recording (multipart field ``file``) -> 202 with the call and its job.

    The body streams to disk; the sha256 is computed on the way. The file is probed as media, not
    judged by its name or content type. The same recording uploaded again returns the existing
    call with 200.
    """
    received = await upload.receive(
        request, settings.data_dir / "uploads", settings.max_upload_bytes
    )
    try:
        fields = received.fields
        title = _text(fields, "title")
        customer = _text(fields, "customer")
        call_date = _call_date(fields.get("call_date", ""))
        language = check_language(fields.get("language") or None)
        info = await upload.check_media_async(
            received.path, received.filename, MediaOptions(max_duration_s=settings.max_duration_s)
        )
        new = store.NewCall(
            sha256=received.sha256,
            filename=received.filename,
            size_bytes=received.size_bytes,
            media_format=info.format,
            media_kind=info.kind,
            duration_s=info.duration_s,
            title=title,
            customer=customer,
            call_date=call_date,
            language=language,
        )
        body, job_id, created = await run_in_threadpool(
            keep_upload, db, settings, user.id, fields.get("rep", ""), new, received
        )
        if created:
            queue.submit(job_id)
    finally:
        received.discard()
    return JSONResponse(body.model_dump(mode="json"), status_code=202 if created else 200)


def keep_upload(
    db: Database,
    settings: Settings,
    user_id: int,
    rep: str,
    new: store.NewCall,
    received: upload.Upload,
) -> tuple[UploadAccepted, int, bool]:
    """The call and job of a checked upload, and its file in the recordings folder: both or
    neither (``assistant.jobs.lifecycle.register_call``)."""

    def owner(session: Session) -> User:
        me = session.get(User, user_id)
        assert me is not None
        return _owner(session, me, rep)

    def describe(session: Session, call: Call, job: Job, created: bool) -> UploadAccepted:
        session.refresh(call)
        return UploadAccepted(
            call=call_public(call), job=JobPublic.model_validate(job), created=created
        )

    body = lifecycle.register_call(
        db,
        settings.recordings_dir,
        owner,
        new,
        received.path,
        describe,
        move=True,
        max_attempts=settings.job_max_attempts,
        before_commit=lambda sha256: _upload_kept(sha256),
    )
    return body, body.job.id, body.created


def _upload_kept(sha256: str) -> None:
    """Called when an upload's call and file are in place, just before they are committed."""


@router.get("", response_model=CallsPublic)
def list_calls(
    user: CurrentUser,
    session: SessionDep,
    rep: Annotated[str | None, Query(max_length=100)] = None,
    customer: Annotated[str | None, Query(max_length=200)] = None,
    date_from: date | None = None,
    date_to: date | None = None,
    status: Literal["queued", "processing", "done", "failed"] | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Words in title/transcript")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CallsPublic:
    """Calls you may see, newest first."""
    f = store.CallFilter(rep, customer, date_from, date_to, status, q)
    calls, count = store.list_calls(session, user, f, offset, limit)
    return CallsPublic(data=[call_public(c) for c in calls], count=count)


@router.get("/{call_id}", response_model=CallDetail, responses=NOT_FOUND)
def get_call(call_id: Id, user: CurrentUser, session: SessionDep) -> CallDetail:
    """The whole call: transcript, speakers, items with their review, summary, metrics."""
    call = store.get_call(session, user, call_id)
    report = store.current_report(call)
    names = {s.label: s.name for s in call.speakers}
    segments = [
        SegmentPublic(
            id=s.position,
            start_s=s.start_s,
            end_s=s.end_s,
            text=s.text,
            speaker=s.speaker,
            speaker_name=names.get(s.speaker or ""),
            role=s.role,
            language=s.language,
        )
        for s in sorted(call.segments, key=lambda s: s.position)
    ]
    return CallDetail(
        **call_public(call).model_dump(),
        segments=segments,
        speakers=[SpeakerPublic.model_validate(s) for s in call.speakers],
        items=[item_public(i) for i in call.items],
        summary=report.summary.model_dump(mode="json") if report and report.summary else None,
        metrics=dict(report.metrics) if report else {},
        trackers=list(report.trackers) if report else [],
        report=report.model_dump(mode="json", exclude=SHOWN) if report else None,
    )


@router.get(
    "/{call_id}/audio",
    responses={
        **NOT_FOUND,
        206: {"description": "The requested byte range"},
        410: {"model": Message, "description": "Deleted by the retention policy"},
    },
    response_class=FileResponse,
)
def get_audio(call_id: Id, user: CurrentUser, session: SessionDep, settings: SettingsDep):
    """The recording, with HTTP range requests (a player can seek)."""
    call = store.get_call(session, user, call_id)
    path = store.recording_path(settings.recordings_dir, call.sha256)
    if call.recording_deleted_at is not None or not path.is_file():
        return JSONResponse(
            {
                "detail": f"The recording of call {call_id} was deleted by the retention policy; "
                "the transcript and items are kept"
            },
            status_code=410,
        )
    media_type = AUDIO_TYPES.get(call.media_format, "application/octet-stream")
    return FileResponse(path, media_type=media_type, content_disposition_type="inline")


def _csv(call: Call) -> str:
    columns = [
        "id",
        "kind",
        "text",
        "quote",
        "start_s",
        "end_s",
        "speaker",
        "role",
        "owner",
        "due",
        "category",
        "confidence",
        "review",
        "origin",
    ]
    rows = [
        [call.id, *("" if getattr(item, c) is None else getattr(item, c) for c in columns)]
        for item in call.items
        if item.review != "rejected"
    ]
    return to_csv([["call_id", *columns], *rows])


@router.get(
    "/{call_id}/export",
    responses={**NOT_FOUND, 409: {"model": Message, "description": "Not analysed yet"}},
    response_class=PlainTextResponse,
)
def export_call(
    call_id: Id,
    user: CurrentUser,
    session: SessionDep,
    format: Literal["json", "md", "csv", "srt", "vtt"] = "json",
) -> Response:
    """The report with review applied, as JSON, Markdown, CSV (items), SubRip or WebVTT."""
    call = store.get_call(session, user, call_id)
    report = store.current_report(call)
    if report is None:
        return JSONResponse(
            {"detail": f"Call {call_id} is {call.status}; export it once it is done"},
            status_code=409,
        )
    text = _csv(call) if format == "csv" else render(report, format)
    stem = os.path.splitext(call.filename)[0]
    return Response(
        text,
        media_type=EXPORT_TYPES[format],
        headers={"Content-Disposition": attachment(stem, format, f"call-{call.id}")},
    )


@router.get(
    "/{call_id}/email",
    responses={**NOT_FOUND, 409: {"model": Message, "description": "Not analysed yet"}},
    response_class=PlainTextResponse,
)
def email_draft(call_id: Id, user: CurrentUser, session: SessionDep) -> Response:
    """A follow-up email to the customer, drafted from the reviewed call in its language: the
    needs as understood and the agreed next steps with owners and dates (plain text, the
    subject on the first line)."""
    call = store.get_call(session, user, call_id)
    report = store.current_report(call)
    if report is None:
        return JSONResponse(
            {"detail": f"Call {call_id} is {call.status}; draft an email once it is done"},
            status_code=409,
        )
    return PlainTextResponse(draft_email(report).text)


@router.delete("/{call_id}", status_code=204, responses=NOT_FOUND)
def delete_call(
    call_id: Id, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> Response:
    """Delete a call with its recording, transcript, items and jobs."""
    call = store.get_call(session, user, call_id)
    sha256 = store.delete_call(session, call)
    session.commit()
    store.remove_recording_if_unused(session, settings.recordings_dir, sha256)
    return Response(status_code=204)


@router.post(
    "/{call_id}/retry",
    status_code=202,
    response_model=JobPublic,
    responses={**NOT_FOUND, 409: {"model": Message, "description": "Nothing to run again"}},
)
def retry_call(
    call_id: Id, user: CurrentUser, session: SessionDep, settings: SettingsDep, queue: QueueDep
) -> JobPublic:
    """Run the analysis again: for a call that failed, or that an older version analysed."""
    call = store.get_call(session, user, call_id)
    job = lifecycle.retry_call(session, call, settings.job_max_attempts)
    session.commit()
    queue.submit(job.id)
    return JobPublic.model_validate(job)


@router.post("/{call_id}/items", status_code=201, response_model=ItemPublic, responses=NOT_FOUND)
def add_item(call_id: Id, body: ItemCreate, user: CurrentUser, session: SessionDep) -> ItemPublic:
    """Add an item the model missed; it counts as accepted."""
    call = store.get_call(session, user, call_id)
    item = store.add_item(session, user, call, body.model_dump())
    insights.embed_new_item(item)
    session.commit()
    session.refresh(item)
    return item_public(item)


@router.patch("/{call_id}/speakers", response_model=list[SpeakerPublic], responses=NOT_FOUND)
def update_speakers(
    call_id: Id,
    body: SpeakersUpdate,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> list[SpeakerPublic]:
    """Name speakers and set their roles (rep or customer); segments and items follow. The
    speaker set as the rep teaches the call owner's voice (unless the owner enrolled their
    voice): their later calls find them by voice. Changing the rep of a call that taught it
    takes that call's old rep back out of the learned voice."""
    call = store.get_call(session, user, call_id)
    updates = [s.model_dump(exclude_unset=True) for s in body.speakers]
    speakers = store.update_speakers(session, call, updates)
    session.commit()
    if any("role" in u for u in updates):
        reps = [u["label"] for u in updates if u.get("role") == "rep"]
        voice.follow_roles(session, settings.profiles_dir, call, reps)
    return [SpeakerPublic.model_validate(s) for s in speakers]
