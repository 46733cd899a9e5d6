"""What every page shares: the templates, formatting, the signed-in viewer, forms."""

from __future__ import annotations

import hmac
import math
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import SESSION_COOKIE, SessionDep
from api.web_session import (
    csrf_token,
)
from assistant.store import calls as store
from assistant.store import users as user_store
from assistant.store.tables import User

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
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
SORTS = store.CALL_SORTS[1:]  # the page sorts by the call's date, not the upload's
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


def sign_in_first(request: Request) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(303, headers={"Location": f"/login?next={quote(target, safe='')}"})


def viewer(request: Request, session: SessionDep) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE) or ""
    user = user_store.authenticate(session, token) if token else None
    if user is None:
        raise sign_in_first(request)
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


def safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/calls"


# ASCII digits only: str.isdigit() also takes "²" and "٣", which int() refuses or reads.
DIGITS = re.compile(r"[0-9]+")


def page_number(page: str, end: int) -> int:
    """The page asked for, or 1 for anything that is not a page number below ``end``."""
    if not DIGITS.fullmatch(page) or len(page) > len(str(end)):
        return 1
    number = int(page)
    return number if 0 < number < end else 1


def parse_date(value: str | None, name: str, errors: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{name} must be a date like 2026-03-31, not {value!r}")
        return None


def visible_reps(session: Session, me: Viewer) -> list[str]:
    user = me.user
    if user.role == "admin":
        query = select(User.name)
    elif user.role == "manager" and user.team:
        query = select(User.name).where((User.team == user.team) | (User.id == user.id))
    else:
        return []
    return list(session.scalars(query.order_by(User.name)))
