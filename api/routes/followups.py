"""Follow-ups: open action items across calls (overdue, due this week, later, no date), per rep
and for the team; mark done; a read-only calendar feed of the dated ones."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse

from api.deps import CurrentUser, SessionDep, SettingsDep, TodayDep
from api.routes.calls import item_public
from api.routes.customers import follow_up_public
from api.schemas import CalendarFeed, FollowUpGroup, FollowUpsPublic, Id, ItemPublic, Message
from assistant.icalendar import feed
from assistant.store import NotFoundError, followups, users
from assistant.store import calls as call_store
from assistant.store.tables import utcnow

router = APIRouter(tags=["follow-ups"])


@router.get("/api/followups", response_model=FollowUpsPublic)
def list_follow_ups(
    user: CurrentUser,
    session: SessionDep,
    today: TodayDep,
    rep: Annotated[str | None, Query(max_length=100, description="Only this rep's calls")] = None,
    customer_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    done: Annotated[bool, Query(description="The done items instead of the open ones")] = False,
) -> FollowUpsPublic:
    """Open action items of the calls you may see (a rep: their own; a manager: the team's),
    soonest due first, with counts per bucket and per rep."""
    found = followups.follow_ups(session, user, today, rep, customer_id, done)
    per_rep: dict[str, Counter[str]] = {}
    for f in found:
        per_rep.setdefault(f.rep, Counter())[f.bucket] += 1
    return FollowUpsPublic(
        today=today,
        counts=dict(Counter(f.bucket for f in found)),
        per_rep=[FollowUpGroup(rep=r, counts=dict(c)) for r, c in sorted(per_rep.items())],
        data=[follow_up_public(f) for f in found],
    )


@router.post(
    "/api/items/{item_id}/done", response_model=ItemPublic, responses={404: {"model": Message}}
)
def mark_done(item_id: Id, user: CurrentUser, session: SessionDep) -> ItemPublic:
    """Mark an action item done; who and when go into its history."""
    return _set_done(item_id, user, session, True)


@router.delete(
    "/api/items/{item_id}/done", response_model=ItemPublic, responses={404: {"model": Message}}
)
def reopen(item_id: Id, user: CurrentUser, session: SessionDep) -> ItemPublic:
    """Open a done action item again."""
    return _set_done(item_id, user, session, False)


def _set_done(item_id: int, user: CurrentUser, session: SessionDep, done: bool) -> ItemPublic:
    item = call_store.get_item(session, user, item_id)
    followups.set_done(session, user, item, done)
    session.commit()
    session.refresh(item)
    return item_public(item)


def _base(request: Request, public_url: str) -> str:
    return public_url.rstrip("/") or str(request.base_url).rstrip("/")


@router.post("/api/users/me/calendar", response_model=CalendarFeed)
def new_calendar_feed(
    request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> CalendarFeed:
    """A calendar feed (iCalendar) of your dated open action items, for a calendar app to
    subscribe to. Its address carries a read-only token; a new one replaces the old."""
    token = users.new_calendar_token(session, user)
    session.commit()
    return CalendarFeed(url=f"{_base(request, settings.public_url)}/calendar/{token}.ics")


@router.delete("/api/users/me/calendar", status_code=204)
def revoke_calendar_feed(user: CurrentUser, session: SessionDep) -> Response:
    """Revoke your calendar feed's address."""
    users.revoke_calendar(session, user)
    session.commit()
    return Response(status_code=204)


@router.get(
    "/calendar/{token}.ics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/calendar": {}}}, 404: {"model": Message}},
)
def calendar_feed(
    token: Annotated[str, PathParam(max_length=200)],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
) -> Response:
    """The calendar of one user's dated open action items (no sign-in: the token is the key)."""
    user = users.calendar_user(session, token)
    if user is None:
        raise NotFoundError("No such calendar feed (revoked, or a mistyped address)")
    items = followups.follow_ups(session, user, today)
    body = feed(user.name, items, _base(request, settings.public_url), utcnow())
    return Response(body, media_type="text/calendar; charset=utf-8")
