"""Needs and objections across the calls you may see, grouped into themes.

The themes come from embeddings stored with the items (``assistant.store.insights``): a request
reads at most ``MAX_ITEMS`` items, embeds at most ``LAZY_EMBED_LIMIT`` texts whose embedding is
still missing, and groups with a bounded number of themes.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, SessionDep
from api.schemas import InsightsPublic, Moment, Theme
from assistant.store import insights

router = APIRouter(prefix="/api/insights", tags=["insights"])

Threshold = Annotated[
    float,
    Query(
        ge=insights.MIN_THRESHOLD,
        le=insights.MAX_THRESHOLD,
        description="Similarity an item needs to join a theme",
    ),
]


PerTheme = Annotated[
    int,
    Query(ge=1, le=500, description="Moments listed per theme (its count is of all of them)"),
]


async def _themes(
    kind: str,
    user: CurrentUser,
    session: SessionDep,
    date_from: date | None,
    date_to: date | None,
    rep: str | None,
    threshold: float,
    per_theme: int,
) -> InsightsPublic:
    found = insights.moments(session, user, kind, date_from, date_to, rep)
    if await run_in_threadpool(insights.embed_some_missing, session, found):
        session.commit()
    themes = await run_in_threadpool(insights.group, found, threshold)
    return InsightsPublic(
        kind=kind,
        count=len(found),
        pending=insights.pending(found),
        themes=[
            Theme(
                label=t.label,
                calls=t.calls,
                customers=t.customers,
                count=len(t.moments),
                items=[
                    Moment(
                        item_id=m.item.id,
                        call_id=m.call.id,
                        call_title=m.call.title,
                        customer=m.call.customer,
                        rep=m.rep,
                        text=m.item.text,
                        quote=m.item.quote,
                        start_s=m.item.start_s,
                        end_s=m.item.end_s,
                        review=m.item.review,
                        category=m.item.category,
                        url=f"/api/calls/{m.call.id}/audio#t={m.item.start_s:.1f}",
                    )
                    for m in t.moments[:per_theme]
                ],
            )
            for t in themes
        ],
    )


@router.get("/needs", response_model=InsightsPublic)
async def needs(
    user: CurrentUser,
    session: SessionDep,
    date_from: date | None = None,
    date_to: date | None = None,
    rep: Annotated[str | None, Query(max_length=100)] = None,
    threshold: Threshold = insights.DEFAULT_THRESHOLD,
    items_per_theme: PerTheme = 50,
) -> InsightsPublic:
    """Customer needs, grouped: each theme with how many calls and customers, and its moments."""
    return await _themes(
        "customer_need", user, session, date_from, date_to, rep, threshold, items_per_theme
    )


@router.get("/objections", response_model=InsightsPublic)
async def objections(
    user: CurrentUser,
    session: SessionDep,
    date_from: date | None = None,
    date_to: date | None = None,
    rep: Annotated[str | None, Query(max_length=100)] = None,
    threshold: Threshold = insights.DEFAULT_THRESHOLD,
    items_per_theme: PerTheme = 50,
) -> InsightsPublic:
    """Objections, grouped like needs."""
    return await _themes(
        "objection", user, session, date_from, date_to, rep, threshold, items_per_theme
    )
