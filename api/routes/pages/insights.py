"""Needs and objections across calls, as themes with trends, and their CSV export."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep
from api.downloads import attachment
from api.routes.pages.common import (
    INSIGHT_KINDS,
    TREND_WEEKS,
    Viewer,
    ViewerDep,
    parse_date,
    render,
    visible_reps,
)
from assistant.formats import to_csv
from assistant.store import insights

router = APIRouter(include_in_schema=False)


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
    start = parse_date(date_from, "From", errors)
    end = parse_date(date_to, "To", errors)
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
            "reps": visible_reps(session, me),
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
