"""Who may see what: one rule used everywhere.

A rep sees their own calls, a manager the calls of their team (and their own), an admin every
call. Accounts, items, search and insights all follow from the calls.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select, true

from assistant.store.tables import Call, User


def visible(user: User) -> ColumnElement[bool]:
    """The condition on ``Call`` that selects what ``user`` may see."""
    if user.role == "admin":
        return true()
    if user.role == "manager" and user.team:
        team = select(User.id).where(User.team == user.team).scalar_subquery()
        return or_(Call.owner_id == user.id, Call.owner_id.in_(team))
    return Call.owner_id == user.id


def may_see_user(viewer: User, other: User) -> bool:
    if viewer.role == "admin" or viewer.id == other.id:
        return True
    return viewer.role == "manager" and viewer.team is not None and viewer.team == other.team
