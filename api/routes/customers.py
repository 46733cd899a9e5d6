"""Customers: each account with its calls, themes, open follow-ups and warnings; rename, merge,
move a call, dismiss a warning."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, SessionDep, SettingsDep, TodayDep
from api.routes.calls import call_public
from api.schemas import (
    CallCustomerUpdate,
    CallPublic,
    CustomerDetail,
    CustomerMerge,
    CustomerPublic,
    CustomersPublic,
    CustomerThemePublic,
    CustomerUpdate,
    FollowUpPublic,
    Id,
    Message,
    ThemeMomentPublic,
    TimelineCallPublic,
    WarningDismiss,
    WarningMomentPublic,
    WarningPublic,
)
from assistant.errors import OptionError
from assistant.settings import Settings
from assistant.store import accounts
from assistant.store import calls as call_store
from assistant.store.account_view import (
    AccountTheme,
    ShownWarning,
    account_view,
    shown_warnings,
)
from assistant.store.followups import FollowUp
from assistant.warnings import WarningSettings

router = APIRouter(prefix="/api/customers", tags=["customers"])
calls_router = APIRouter(prefix="/api/calls", tags=["customers"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Message, "description": "No such customer, or none of its calls are yours"}
}


def moment_url(call_id: int, start_s: float, item_id: int | None = None) -> str:
    """A moment on its call's page: the page plays the call from there."""
    item = f"&item={item_id}" if item_id is not None else ""
    return f"/calls/{call_id}?t={start_s:.1f}{item}"


def follow_up_public(f: FollowUp) -> FollowUpPublic:
    return FollowUpPublic(
        id=f.id,
        text=f.text,
        owner=f.owner,
        due=f.due,
        bucket=f.bucket,
        call_id=f.call_id,
        call_title=f.call_title,
        customer=f.customer,
        customer_id=f.account_id,
        rep=f.rep,
        start_s=f.start_s,
        done_at=f.done_at,
        url=moment_url(f.call_id, f.start_s, f.id),
    )


def warning_settings(settings: Settings) -> WarningSettings:
    return WarningSettings(
        pricing_after_calls=settings.warn_pricing_after_calls,
        min_customer_talk=settings.warn_min_customer_talk,
        answer_turns=settings.warn_answer_turns,
        single_contact_after_calls=settings.warn_single_contact_after_calls,
    )


def _theme(t: AccountTheme, per_theme: int) -> CustomerThemePublic:
    return CustomerThemePublic(
        kind=t.kind,
        label=t.label,
        calls=t.calls,
        first_raised=t.first.day,
        last_raised=t.last.day,
        new=t.new,
        count=len(t.moments),
        moments=[
            ThemeMomentPublic(
                item_id=m.item_id,
                call_id=m.call_id,
                call_title=m.call_title,
                day=m.day,
                start_s=m.start_s,
                quote=m.quote,
                url=moment_url(m.call_id, m.start_s, m.item_id),
            )
            for m in t.moments[-per_theme:]
        ],
    )


def _warning(w: ShownWarning) -> WarningPublic:
    return WarningPublic(
        kind=w.warning.kind,
        subject=w.subject,
        message=w.warning.message,
        moments=[
            WarningMomentPublic(
                call_id=m.call_id,
                start_s=m.start_s,
                quote=m.quote,
                url=moment_url(m.call_id, m.start_s),
            )
            for m in w.warning.moments
        ],
        dismissed_reason=w.dismissed_reason,
        dismissed_by=w.dismissed_by,
    )


def _public(s: accounts.AccountSummary) -> CustomerPublic:
    return CustomerPublic(
        id=s.account.id,
        name=s.account.name,
        calls=s.calls,
        first_call=s.first_day,
        last_call=s.last_day,
    )


@router.get("", response_model=CustomersPublic)
def list_customers(
    user: CurrentUser,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CustomersPublic:
    """The customers of the calls you may see, the one with the latest call first."""
    rows, total = accounts.list_accounts(session, user, q, offset, limit)
    return CustomersPublic(data=[_public(r) for r in rows], count=total)


@router.get("/{customer_id}", response_model=CustomerDetail, responses=NOT_FOUND)
async def get_customer(
    customer_id: Id,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
    per_theme: Annotated[
        int, Query(ge=1, le=500, description="Moments listed per theme (the latest)")
    ] = 20,
    open_limit: Annotated[
        int, Query(ge=1, le=5000, description="Open action items listed (soonest due first)")
    ] = 100,
) -> CustomerDetail:
    """Everything about one customer: the calls on a timeline, each need and objection theme
    with when it was first and last raised, open action items, what is new since the last
    call, and warnings with the moments behind them."""
    account = accounts.get_account(session, user, customer_id)
    view = await run_in_threadpool(
        account_view, session, user, account, today, warning_settings(settings)
    )
    session.commit()  # embeddings computed on the way are kept
    themes = [_theme(t, per_theme) for t in view.themes]
    return CustomerDetail(
        id=account.id,
        name=account.name,
        calls=len(view.calls),
        first_call=view.calls[0].day if view.calls else None,
        last_call=view.latest.day if view.latest else None,
        timeline=[TimelineCallPublic.model_validate(c) for c in view.calls],
        themes=themes,
        pending=view.pending,
        open_count=len(view.follow_ups),
        open_items=[follow_up_public(f) for f in view.follow_ups[:open_limit]],
        new_since_last_call=[t for t in themes if t.new],
        new_items=[follow_up_public(f) for f in view.new_items],
        warnings=[_warning(w) for w in view.warnings],
        dismissed_warnings=[_warning(w) for w in view.dismissed],
    )


@router.patch("/{customer_id}", response_model=CustomerPublic, responses=NOT_FOUND)
def rename_customer(
    customer_id: Id, body: CustomerUpdate, user: CurrentUser, session: SessionDep
) -> CustomerPublic:
    """Rename a customer and every call with it (managers). A name another customer of the
    team already has is a 409: merge the two instead."""
    account = accounts.get_account(session, user, customer_id)
    accounts.rename_account(session, user, account, body.name)
    session.commit()
    return _public(accounts.summary(session, user, account))


@router.post("/{customer_id}/merge", response_model=CustomerPublic, responses=NOT_FOUND)
def merge_customers(
    customer_id: Id, body: CustomerMerge, user: CurrentUser, session: SessionDep
) -> CustomerPublic:
    """Merge other spellings of this customer into it (managers): their calls move here and
    take this name."""
    target = accounts.get_account(session, user, customer_id)
    sources = [accounts.get_account(session, user, i) for i in dict.fromkeys(body.sources)]
    accounts.merge_accounts(session, user, target, sources)
    session.commit()
    return _public(accounts.summary(session, user, target))


@router.post("/{customer_id}/warnings/dismiss", response_model=WarningPublic, responses=NOT_FOUND)
def dismiss_warning(
    customer_id: Id,
    body: WarningDismiss,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> WarningPublic:
    """Dismiss a warning (by its kind and subject) with a reason; it moves to the dismissed
    warnings. The same kind about other calls shows again."""
    account = accounts.get_account(session, user, customer_id)
    active, dismissed = shown_warnings(session, user, account, warning_settings(settings))
    shown = {(w.warning.kind, w.subject): w for w in active + dismissed}
    warning = shown.get((body.kind, body.subject))
    if warning is None:
        kinds = ", ".join(f"{k} ({s or 'account'})" for k, s in shown) or "none"
        raise OptionError(
            f"Customer {account.id} has no warning {body.kind!r} about {body.subject!r}; "
            f"its warnings: {kinds}"
        )
    row = accounts.dismiss_warning(session, user, account, body.kind, body.subject, body.reason)
    session.commit()
    return _warning(ShownWarning(warning.warning, warning.subject, row.reason, user.name))


@calls_router.put("/{call_id}/customer", response_model=CallPublic, responses=NOT_FOUND)
def move_call(
    call_id: Id, body: CallCustomerUpdate, user: CurrentUser, session: SessionDep
) -> CallPublic:
    """Move a call to the customer with this name (made if new; case and spacing do not
    matter), or out of any customer with an empty name."""
    call = call_store.get_call(session, user, call_id)
    accounts.move_call(session, call, body.customer)
    session.commit()
    session.refresh(call)
    return call_public(call)
