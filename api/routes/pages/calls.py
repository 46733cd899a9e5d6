"""The call list, a call's page, running a call again, and the upload page."""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import QueueDep, SessionDep, SettingsDep
from api.failures import failure_text
from api.routes.pages.common import (
    DIGITS,
    EXPORT_FORMATS,
    KIND_ORDER,
    PAGE_SIZE,
    SORTS,
    STAGE_NAMES,
    Viewer,
    ViewerDep,
    error_page,
    form_csrf_ok,
    page_number,
    parse_date,
    render,
    size_text,
    visible_reps,
)
from api.web_session import (
    CSRF_FIELD,
)
from assistant.formats import languages_text
from assistant.jobs import lifecycle
from assistant.report import CallReport
from assistant.store import ConflictError, NotFoundError
from assistant.store import calls as store
from assistant.store.tables import CALL_STATUSES, Call

router = APIRouter(include_in_schema=False)


@router.get("/calls", response_class=HTMLResponse)
def calls_page(
    request: Request,
    me: ViewerDep,
    session: SessionDep,
    rep: str = "",
    customer: str = "",
    date_from: str = "",
    date_to: str = "",
    status: str = "",
    q: str = "",
    sort: str = "date",
    order: str = "desc",
    page: str = "1",
) -> Response:
    errors: list[str] = []
    start = parse_date(date_from, "From", errors)
    end = parse_date(date_to, "To", errors)
    if status and status not in CALL_STATUSES:
        errors.append(f"Status must be one of {', '.join(CALL_STATUSES)}")
        status = ""
    if sort not in SORTS:
        sort = "date"
    descending = order != "asc"
    number = page_number(page, 100_000)
    filters = store.CallFilter(
        rep[:100] or None,
        customer[:200] or None,
        start,
        end,
        status or None,
        q[:200].strip() or None,
    )

    def page_of(n: int) -> tuple[list[Call], int]:
        offset = (n - 1) * PAGE_SIZE
        return store.list_calls(session, me.user, filters, offset, PAGE_SIZE, sort, descending)

    rows, count = page_of(number)
    pages = max(math.ceil(count / PAGE_SIZE), 1)
    if number > pages:  # past the end: the last page
        number = pages
        rows, count = page_of(number)
    params = {
        "rep": rep,
        "customer": customer,
        "date_from": date_from,
        "date_to": date_to,
        "status": status,
        "q": q,
    }
    kept = {k: v for k, v in params.items() if v}

    def link(**changes: str | int) -> str:
        merged: dict[str, str | int] = {**kept, "sort": sort, "order": order, **changes}
        return "/calls?" + urlencode(merged)

    def sort_link(column: str) -> str:
        flip = "asc" if column == sort and descending else "desc"
        return link(sort=column, order=flip, page=1)

    return render(
        request,
        "calls.html",
        {
            "me": me,
            "calls": rows,
            "counts": store.item_counts(session, [c.id for c in rows]),
            "count": count,
            "page": number,
            "pages": pages,
            "params": params,
            "filtered": bool(kept),
            "errors": errors,
            "sort": sort,
            "descending": descending,
            "sort_link": sort_link,
            "page_link": lambda n: link(page=n),
            "reps": visible_reps(session, me),
            "statuses": CALL_STATUSES,
        },
    )


def _get_call(request: Request, me: Viewer, session: Session, call_id: int) -> Call | Response:
    try:
        return store.get_call(session, me.user, call_id)
    except NotFoundError:
        return error_page(
            request,
            me,
            404,
            "Call not found",
            "There is no such call, or it belongs to someone whose calls you cannot see.",
        )


def _metrics_view(metrics: dict[str, Any]) -> dict[str, Any]:
    """Talk share and questions per role (or per speaker when roles are unknown) for the chart."""
    roles = metrics.get("roles") or {}
    bars = []
    if roles:
        for role in ("rep", "customer"):
            m = roles.get(role)
            if m:
                bars.append(
                    {
                        "label": role,
                        "ratio": float(m.get("talk_ratio") or 0.0),
                        "questions": int(m.get("questions") or 0),
                        "wpm": float(m.get("words_per_minute") or 0.0),
                        "monologue_s": float(m.get("longest_monologue_s") or 0.0),
                    }
                )
    if not bars:
        for m in metrics.get("speakers") or []:
            bars.append(
                {
                    "label": m.get("speaker") or "?",
                    "ratio": float(m.get("talk_ratio") or 0.0),
                    "questions": int(m.get("questions") or 0),
                    "wpm": float(m.get("words_per_minute") or 0.0),
                    "monologue_s": float(m.get("longest_monologue_s") or 0.0),
                }
            )
    most_questions = max([b["questions"] for b in bars] or [0]) or 1
    return {
        "bars": bars,
        "most_questions": most_questions,
        "questions": metrics.get("questions"),
        "interruptions": metrics.get("interruptions"),
        "words_per_minute": metrics.get("words_per_minute"),
        "silence_s": metrics.get("silence_s"),
    }


def roles_uncertain(report: CallReport | None, call: Call) -> bool:
    """The roles are the text heuristic's unsure guess (``Speaker.role_uncertain``) and no person
    has changed one of them since."""
    if report is None or not any(s.role_uncertain for s in report.speakers):
        return False
    guessed = {s.id: s.role for s in report.speakers}
    return all(row.role == guessed.get(row.label, row.role) for row in call.speakers)


@router.get("/calls/{call_ref}", response_class=HTMLResponse)
def call_page(call_ref: str, request: Request, me: ViewerDep, session: SessionDep) -> Response:
    call_id = int(call_ref) if DIGITS.fullmatch(call_ref) and len(call_ref) < 12 else -1
    call = _get_call(request, me, session, call_id)
    if isinstance(call, Response):
        return call
    report = store.current_report(call)
    data = report.model_dump(mode="json") if report else {}
    names = {s.label: s for s in call.speakers}
    segments = sorted(call.segments, key=lambda s: (s.start_s, s.position))
    grouped = {kind: [i for i in call.items if i.kind == kind] for kind in KIND_ORDER}
    job = call.jobs[-1] if call.jobs else None
    failure, failure_detail = failure_text(
        job.error_kind if job else None, call.error or (job.error if job else None)
    )
    return render(
        request,
        "call.html",
        {
            "me": me,
            "call": call,
            "job": job,
            "segments": segments,
            "languages": languages_text(segments),
            "speakers": call.speakers,
            "roles_uncertain": roles_uncertain(report, call),
            "speaker_names": {k: (v.name or k) for k, v in names.items()},
            "grouped": grouped,
            "summary": data.get("summary"),
            "metrics": _metrics_view(data.get("metrics") or {}),
            "trackers": [t for t in data.get("trackers") or [] if t.get("count")],
            "exports": EXPORT_FORMATS,
            "failure": failure,
            "failure_detail": failure_detail,
            "stages": list(STAGE_NAMES.items()),
            "has_recording": call.recording_deleted_at is None,
        },
    )


@router.post("/calls/{call_id}/retry")
def retry_call(
    call_id: int,
    request: Request,
    me: ViewerDep,
    session: SessionDep,
    settings: SettingsDep,
    queue: QueueDep,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
) -> Response:
    """Run a failed call's analysis again, as a new job."""
    if not form_csrf_ok(me, csrf_token):
        return error_page(
            request, me, 403, "Form expired", "The form is out of date; reload the page and retry."
        )
    call = _get_call(request, me, session, call_id)
    if isinstance(call, Response):
        return call
    if call.status in ("queued", "processing"):
        return RedirectResponse(f"/calls/{call_id}", status_code=303)  # a second click
    try:
        job = lifecycle.retry_call(session, call, settings.job_max_attempts)
    except ConflictError as exc:
        return error_page(request, me, 409, "Cannot run it again", str(exc))
    session.commit()
    queue.submit(job.id)
    return RedirectResponse(f"/calls/{call_id}", status_code=303)


# -- upload ------------------------------------------------------------------------------------


@router.get("/upload", response_class=HTMLResponse)
def upload_page(
    request: Request, me: ViewerDep, session: SessionDep, settings: SettingsDep
) -> Response:
    return render(
        request,
        "upload.html",
        {
            "me": me,
            "reps": visible_reps(session, me),
            "max_size": size_text(settings.max_upload_bytes),
            "today": date.today().isoformat(),
            "stages": list(STAGE_NAMES.items()),
        },
    )
