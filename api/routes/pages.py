"""The web app: server-rendered pages over the same store, roles and API as the service.

Pages read with the signed-in user's visibility (``assistant.store.calls.visible``), so a page
shows exactly what the JSON API would. Changes go through the JSON API from the page's script
(with the ``X-CSRF-Token`` header) or through the few forms here (with the ``csrf_token``
field). Someone who is not signed in is sent to ``/login``.

::

    /            -> /calls or /login
    /login       sign in with a token (the one-time link is /api/auth/login?token=...)
    /calls       filter, sort, page; counts of needs, objections, action items
    /calls/{id}  player, transcript, summary, items to review, speakers, metrics, export
    /upload      several recordings at once, upload and processing progress
    /insights    needs and objections across calls, as themes, with trends by week
    /search      words across transcripts and items
"""

from __future__ import annotations

import hmac
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import SESSION_COOKIE, QueueDep, SessionDep, SettingsDep
from api.downloads import attachment
from api.failures import failure_text
from api.web_session import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    csrf_ok,
    csrf_token,
    login_csrf,
    login_csrf_ok,
    set_login_csrf,
    set_session_cookie,
)
from assistant.formats import languages_text, to_csv
from assistant.jobs import lifecycle
from assistant.report import CallReport
from assistant.store import ConflictError, NotFoundError, insights
from assistant.store import calls as store
from assistant.store import search as store_search
from assistant.store import users as user_store
from assistant.store.tables import CALL_STATUSES, Call, Item, Token, User
from assistant.store.users import hash_token

router = APIRouter(include_in_schema=False)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))

PAGE_SIZE = 20
KIND_NAMES = {
    "customer_need": "Customer needs",
    "objection": "Objections",
    "action_item": "Action items",
}
KIND_ORDER = ("action_item", "customer_need", "objection")
STAGE_NAMES = {
    "media": "Reading the recording",
    "transcribe": "Transcribing",
    "diarize": "Finding who spoke",
    "extract": "Finding action items, needs and objections",
    "summarize": "Writing the summary",
}
EXPORT_FORMATS = (
    ("md", "Markdown"),
    ("json", "JSON"),
    ("csv", "CSV (items)"),
    ("vtt", "WebVTT"),
    ("srt", "SubRip"),
)
CATEGORIES = store.OBJECTION_CATEGORIES
SORTS = ("date", "title", "customer", "rep", "status", "duration")
INSIGHT_KINDS = {"needs": "customer_need", "objections": "objection"}
TREND_WEEKS = 12
# Pages load only their own scripts and styles (style attributes draw the bars), are never
# framed, and are not cached: they show one user's data.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; media-src 'self'; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


# -- formatting --------------------------------------------------------------------------------


def clock(seconds: float | None) -> str:
    """``83.4`` -> ``1:23``; ``3725`` -> ``1:02:05``."""
    if seconds is None or math.isnan(seconds):
        return ""
    total = max(int(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def highlight(snippet: str) -> Markup:
    """A search snippet with its ``<mark>`` tags kept and everything else escaped."""
    parts = []
    for i, piece in enumerate(snippet.split("<mark>")):
        if i == 0:
            parts.append(escape(piece))
            continue
        marked, _, rest = piece.partition("</mark>")
        parts.append(Markup("<mark>") + escape(marked) + Markup("</mark>") + escape(rest))
    return Markup("").join(parts)


def size_text(size_bytes: int) -> str:
    if size_bytes >= 1e9:
        return f"{size_bytes / 1e9:.1f} GB"
    return f"{max(round(size_bytes / 1e6), 1)} MB"


def percent(value: float | None) -> str:
    return f"{round((value or 0.0) * 100)}%"


templates.env.filters["clock"] = clock
templates.env.filters["highlight"] = highlight
templates.env.filters["percent"] = percent
templates.env.globals["KIND_NAMES"] = KIND_NAMES
templates.env.globals["STAGE_NAMES"] = STAGE_NAMES
templates.env.globals["CATEGORIES"] = CATEGORIES


# -- who is signed in --------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    user: User
    csrf: str

    @property
    def is_manager(self) -> bool:
        return self.user.role in ("manager", "admin")


def _sign_in_first(request: Request) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(303, headers={"Location": f"/login?next={quote(target, safe='')}"})


def viewer(request: Request, session: SessionDep) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE) or ""
    user = user_store.authenticate(session, token) if token else None
    if user is None:
        raise _sign_in_first(request)
    return Viewer(user, csrf_token(token))


ViewerDep = Annotated[Viewer, Depends(viewer)]


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response


def error_page(request: Request, me: Viewer | None, status: int, title: str, text: str):
    return render(
        request, "error.html", {"me": me, "title": title, "text": text}, status_code=status
    )


def form_csrf_ok(me: Viewer, given: str) -> bool:
    return bool(given) and hmac.compare_digest(me.csrf, given)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/calls"


# ASCII digits only: str.isdigit() also takes "²" and "٣", which int() refuses or reads.
_DIGITS = re.compile(r"[0-9]+")


def _page_number(page: str, end: int) -> int:
    """The page asked for, or 1 for anything that is not a page number below ``end``."""
    if not _DIGITS.fullmatch(page) or len(page) > len(str(end)):
        return 1
    number = int(page)
    return number if 0 < number < end else 1


def _parse_date(value: str | None, name: str, errors: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{name} must be a date like 2026-03-31, not {value!r}")
        return None


def _visible_reps(session: Session, me: Viewer) -> list[str]:
    user = me.user
    if user.role == "admin":
        query = select(User.name)
    elif user.role == "manager" and user.team:
        query = select(User.name).where((User.team == user.team) | (User.id == user.id))
    else:
        return []
    return list(session.scalars(query.order_by(User.name)))


# -- sign in and out ---------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE) or ""
    signed_in = bool(token) and user_store.authenticate(session, token) is not None
    return RedirectResponse("/calls" if signed_in else "/login", status_code=303)


def _login_page(
    request: Request, next_url: str, error: str = "", status_code: int = 200
) -> HTMLResponse:
    token = login_csrf(request)
    response = render(
        request,
        "login.html",
        {"me": None, "csrf": token, "next": next_url, "error": error},
        status_code=status_code,
    )
    set_login_csrf(response, request, token)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, _safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    session: SessionDep,
    token: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/calls",
) -> Response:
    """Exchange a bearer token (from ``assistant users create``) for a browser session."""
    target = _safe_next(next)
    if not login_csrf_ok(request, csrf_token):
        return _login_page(request, target, "The sign-in form expired; try again.", 403)
    given = token.strip()
    if given.startswith("http") and "token=" in given:
        # A pasted login link: send it where it is spent.
        one_time = given.split("token=", 1)[1].split("&", 1)[0]
        return RedirectResponse(
            f"/api/auth/login?{urlencode({'token': one_time})}", status_code=303
        )
    user = user_store.authenticate(session, given) if given else None
    if user is None:
        return _login_page(
            request,
            target,
            "This token is unknown or expired. Paste the access token you were given, or open "
            "your one-time login link.",
            401,
        )
    session_token = user_store.issue_token(
        session, user, kind="session", ttl=user_store.SESSION_TTL
    )
    session.commit()
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(
        response,
        request,
        SESSION_COOKIE,
        session_token,
        int(user_store.SESSION_TTL.total_seconds()),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: SessionDep,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
) -> Response:
    token = request.cookies.get(SESSION_COOKIE) or ""
    if token and csrf_ok(token, csrf_token):
        session.execute(
            delete(Token).where(Token.token_hash == hash_token(token), Token.kind == "session")
        )
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- calls -------------------------------------------------------------------------------------


def _item_counts(session: Session, ids: list[int]) -> dict[int, Counter[str]]:
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


def _sorted(query: Select[Any], sort: str, descending: bool) -> Select[Any]:
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
    start = _parse_date(date_from, "From", errors)
    end = _parse_date(date_to, "To", errors)
    if status and status not in CALL_STATUSES:
        errors.append(f"Status must be one of {', '.join(CALL_STATUSES)}")
        status = ""
    if sort not in SORTS:
        sort = "date"
    descending = order != "asc"
    number = _page_number(page, 100_000)
    filters = store.CallFilter(
        rep[:100] or None,
        customer[:200] or None,
        start,
        end,
        status or None,
        q[:200].strip() or None,
    )
    dialect = session.get_bind().dialect.name
    query = store._filtered(me.user, filters, dialect)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(math.ceil(count / PAGE_SIZE), 1)
    number = min(number, pages)
    rows = list(
        session.scalars(
            _sorted(query, sort, descending).offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        )
    )
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
            "counts": _item_counts(session, [c.id for c in rows]),
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
            "reps": _visible_reps(session, me),
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
    call_id = int(call_ref) if _DIGITS.fullmatch(call_ref) and len(call_ref) < 12 else -1
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
            "reps": _visible_reps(session, me),
            "max_size": size_text(settings.max_upload_bytes),
            "today": date.today().isoformat(),
            "stages": list(STAGE_NAMES.items()),
        },
    )


# -- needs and objections across calls ---------------------------------------------------------


def _week(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _moment_day(m: insights.Moment) -> date:
    created: datetime = m.call.created_at
    return m.call.call_date or created.date()


async def _themes(
    me: Viewer, session: Session, kind: str, start: date | None, end: date | None, rep: str | None
) -> tuple[list[insights.Moment], list[insights.Theme]]:
    found = insights.moments(session, me.user, kind, start, end, rep)
    if await run_in_threadpool(insights.embed_some_missing, session, found):
        session.commit()
    themes = await run_in_threadpool(insights.group, found)
    return found, themes


def _trend(found: list[insights.Moment], themes: list[insights.Theme]) -> dict[str, Any]:
    """Counts per week, for all moments and for each theme, over the ``TREND_WEEKS`` weeks up
    to the latest moment."""
    if not found:
        return {"weeks": [], "total": [], "themes": [], "most": 1}
    last = max(_week(_moment_day(m)) for m in found)
    first = last - timedelta(weeks=TREND_WEEKS - 1)
    weeks = []
    week = first
    while week <= last:
        weeks.append(week)
        week += timedelta(weeks=1)
    index = {w: i for i, w in enumerate(weeks)}

    def counts(moments: list[insights.Moment]) -> list[int]:
        row = [0] * len(weeks)
        for m in moments:
            i = index.get(_week(_moment_day(m)))
            if i is not None:
                row[i] += 1
        return row

    total = counts(found)
    per_theme = [counts(t.moments) for t in themes]
    return {"weeks": weeks, "total": total, "themes": per_theme, "most": max(total) or 1}


def _insight_filters(
    kind: str, rep: str, date_from: str, date_to: str
) -> tuple[str, str | None, date | None, date | None, list[str]]:
    errors: list[str] = []
    item_kind = INSIGHT_KINDS.get(kind, "customer_need")
    start = _parse_date(date_from, "From", errors)
    end = _parse_date(date_to, "To", errors)
    return item_kind, rep[:100] or None, start, end, errors


@router.get("/insights", response_class=HTMLResponse)
async def insights_page(
    request: Request,
    me: ViewerDep,
    session: SessionDep,
    kind: str = "needs",
    rep: str = "",
    date_from: str = "",
    date_to: str = "",
) -> Response:
    kind = kind if kind in INSIGHT_KINDS else "needs"
    item_kind, rep_name, start, end, errors = _insight_filters(kind, rep, date_from, date_to)
    found, themes = await _themes(me, session, item_kind, start, end, rep_name)
    params = {"rep": rep, "date_from": date_from, "date_to": date_to}
    kept = {k: v for k, v in params.items() if v}
    return render(
        request,
        "insights.html",
        {
            "me": me,
            "kind": kind,
            "item_kind": item_kind,
            "themes": themes,
            "count": len(found),
            "trend": _trend(found, themes),
            "params": params,
            "reps": _visible_reps(session, me),
            "errors": errors,
            "tab_link": lambda k: "/insights?" + urlencode({"kind": k, **kept}),
            "export_link": "/insights/export.csv?" + urlencode({"kind": kind, **kept}),
        },
    )


@router.get("/insights/export.csv")
async def insights_csv(
    me: ViewerDep,
    session: SessionDep,
    kind: str = "needs",
    rep: str = "",
    date_from: str = "",
    date_to: str = "",
) -> Response:
    kind = kind if kind in INSIGHT_KINDS else "needs"
    item_kind, rep_name, start, end, errors = _insight_filters(kind, rep, date_from, date_to)
    if errors:
        return Response("; ".join(errors), status_code=422, media_type="text/plain")
    _, themes = await _themes(me, session, item_kind, start, end, rep_name)
    header = [
        "theme",
        "theme_calls",
        "item_id",
        "call_id",
        "call_title",
        "customer",
        "rep",
        "call_date",
        "text",
        "quote",
        "start_s",
        "category",
        "review",
    ]
    rows = [
        [
            theme.label,
            theme.calls,
            m.item.id,
            m.call.id,
            m.call.title,
            m.call.customer,
            m.rep,
            _moment_day(m).isoformat(),
            m.item.text,
            m.item.quote,
            f"{m.item.start_s:.1f}",
            m.item.category or "",
            m.item.review,
        ]
        for theme in themes
        for m in theme.moments
    ]
    return Response(
        to_csv([header, *rows]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": attachment(f"{kind}-themes", "csv", "themes")},
    )


# -- search ------------------------------------------------------------------------------------


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request, me: ViewerDep, session: SessionDep, q: str = "", page: str = "1"
) -> Response:
    query = q.strip()[:200]
    number = _page_number(page, 1000)
    hits: list[store_search.Hit] = []
    if query:
        hits = store_search.search(
            session, store.visible(me.user), query, PAGE_SIZE + 1, (number - 1) * PAGE_SIZE
        )
    more = len(hits) > PAGE_SIZE
    return render(
        request,
        "search.html",
        {
            "me": me,
            "q": query,
            "hits": hits[:PAGE_SIZE],
            "page": number,
            "more": more,
            "page_link": lambda n: "/search?" + urlencode({"q": query, "page": n}),
        },
    )
