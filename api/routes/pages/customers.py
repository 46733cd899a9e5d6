"""Customers (the list and each customer's page) and the follow-up list."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep, SettingsDep, TodayDep
from api.routes.customers import warning_settings
from api.routes.pages.common import ViewerDep, error_page, render, visible_reps
from assistant.store import NotFoundError, accounts, followups
from assistant.store.account_view import account_view
from assistant.store.tables import Account
from assistant.warnings import INFORMATIONAL_KINDS

router = APIRouter(include_in_schema=False)

BUCKET_NAMES = {
    "overdue": "Overdue",
    "this_week": "Due this week",
    "later": "Later",
    "no_date": "No date",
}


@router.get("/customers", response_class=HTMLResponse)
def customers_page(request: Request, me: ViewerDep, session: SessionDep, q: str = "") -> Response:
    rows, count = accounts.list_accounts(session, me.user, q[:200] or None, limit=500)
    return render(request, "customers.html", {"me": me, "rows": rows, "count": count, "q": q[:200]})


@router.get("/customers/{customer_ref}", response_class=HTMLResponse)
async def customer_page(
    customer_ref: str,
    request: Request,
    me: ViewerDep,
    session: SessionDep,
    settings: SettingsDep,
    today: TodayDep,
) -> Response:
    try:
        account = accounts.get_account(session, me.user, int(customer_ref))
    except (NotFoundError, ValueError, OverflowError):
        return error_page(
            request,
            me,
            404,
            "Customer not found",
            "There is no such customer, or none of its calls are calls you may see.",
        )
    view = await run_in_threadpool(
        account_view, session, me.user, account, today, warning_settings(settings)
    )
    session.commit()  # embeddings computed on the way are kept
    others: list[Account] = []
    if me.is_manager:
        found, _ = accounts.list_accounts(session, me.user, limit=500)
        others = [r.account for r in found if r.account.id != account.id]
        others = [a for a in others if a.team == account.team]
    return render(
        request,
        "customer.html",
        {
            "me": me,
            "account": account,
            "view": view,
            "today": today,
            "buckets": BUCKET_NAMES,
            "informational": INFORMATIONAL_KINDS,
            "others": others,
        },
    )


@router.get("/followups", response_class=HTMLResponse)
def follow_ups_page(
    request: Request, me: ViewerDep, session: SessionDep, today: TodayDep, rep: str = ""
) -> Response:
    reps = visible_reps(session, me)
    chosen = rep if rep in reps else ""
    found = followups.follow_ups(session, me.user, today, chosen or None)
    per_rep: dict[str, Counter[str]] = {}
    for f in found:
        per_rep.setdefault(f.rep, Counter())[f.bucket] += 1
    return render(
        request,
        "followups.html",
        {
            "me": me,
            "today": today,
            "buckets": BUCKET_NAMES,
            "grouped": {b: [f for f in found if f.bucket == b] for b in BUCKET_NAMES},
            "per_rep": sorted(per_rep.items()),
            "reps": reps,
            "rep": chosen,
        },
    )
