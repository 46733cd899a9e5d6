"""Follow-ups: the open action items across calls, so none slips.

An action item is open until someone marks it done (who and when are kept, and each done and
reopen is in the item's history); rejected items are not follow-ups. Open items fall in one
bucket each, by their due date against ``today`` (a seam for the clock): ``overdue`` (before
today), ``this_week`` (today to Sunday), ``later``, or ``no_date``. A rep sees the items of
their own calls, a manager those of the team's calls, as everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.errors import OptionError
from assistant.store.access import visible
from assistant.store.tables import Call, Item, ItemEdit, User, utcnow

BUCKETS = ("overdue", "this_week", "later", "no_date")


def bucket(due: date | None, today: date) -> str:
    if due is None:
        return "no_date"
    if due < today:
        return "overdue"
    if due <= today + timedelta(days=6 - today.weekday()):
        return "this_week"
    return "later"


@dataclass(frozen=True, slots=True)
class FollowUp:
    """An action item as the follow-up list shows it (plain columns: a team has thousands)."""

    id: int
    text: str
    owner: str | None
    due: date | None
    start_s: float
    call_id: int
    call_title: str
    customer: str
    account_id: int | None
    rep: str
    done_at: datetime | None
    bucket: str


def follow_ups(
    session: Session,
    user: User,
    today: date,
    rep: str | None = None,
    account_id: int | None = None,
    done: bool = False,
) -> list[FollowUp]:
    """The open action items ``user`` may see (``done``: the done ones instead), soonest due
    first and those without a date last; only ``rep``'s calls or one account's if given."""
    query = (
        select(
            Item.id,
            Item.text,
            Item.owner,
            Item.due,
            Item.start_s,
            Item.call_id,
            Item.done_at,
            Call.title,
            Call.customer,
            Call.account_id,
            User.name,
        )
        .join(Call, Call.id == Item.call_id)
        .join(User, User.id == Call.owner_id)
        .where(Item.kind == "action_item", Item.review != "rejected", visible(user))
        .where(Item.done_at.is_not(None) if done else Item.done_at.is_(None))
        .order_by(Item.due.is_(None), Item.due, Item.call_id, Item.start_s, Item.id)
    )
    if rep:
        query = query.where(User.name == rep)
    if account_id is not None:
        query = query.where(Call.account_id == account_id)
    return [
        FollowUp(
            r.id,
            r.text,
            r.owner,
            r.due,
            r.start_s,
            r.call_id,
            r.title,
            r.customer,
            r.account_id,
            r.name,
            r.done_at,
            "done" if done else bucket(r.due, today),
        )
        for r in session.execute(query)
    ]


def set_done(session: Session, user: User, item: Item, done: bool) -> Item:
    """Mark an action item done (or open again), keeping who and when in its history. Marking
    an unreviewed item done also accepts it: it was real."""
    if item.kind != "action_item":
        raise OptionError(f"Only action items can be done; item {item.id} is a {item.kind}")
    if item.review == "rejected":
        raise OptionError(f"Item {item.id} was rejected; accept it first")
    if (item.done_at is not None) == done:
        return item
    now = utcnow()
    changes: dict[str, list[object]] = {
        "done_at": [
            item.done_at.isoformat() if item.done_at else None,
            now.isoformat() if done else None,
        ]
    }
    item.done_at, item.done_by_id = (now, user.id) if done else (None, None)
    if item.review == "unreviewed":
        changes["review"] = [item.review, "accepted"]
        item.review, item.reviewed_by_id, item.reviewed_at = "accepted", user.id, now
    session.add(
        ItemEdit(
            item_id=item.id, user_id=user.id, action="done" if done else "reopen", changes=changes
        )
    )
    session.flush()
    return item


def newly_overdue(session: Session, today: date, limit: int = 200) -> list[Item]:
    """Open, not rejected action items past their due date whose overdue event is not sent
    yet (``overdue_sent_at`` is cleared when the due date changes)."""
    return list(
        session.scalars(
            select(Item)
            .where(
                Item.kind == "action_item",
                Item.review != "rejected",
                Item.done_at.is_(None),
                Item.due < today,
                Item.overdue_sent_at.is_(None),
            )
            .order_by(Item.id)
            .limit(limit)
        )
    )
