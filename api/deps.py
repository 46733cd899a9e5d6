"""Dependencies shared by the routes: settings, database session, the signed-in user."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.web_session import CSRF_HEADER, SAFE_METHODS, csrf_ok
from assistant.jobs import JobQueue
from assistant.settings import Settings
from assistant.store import Database, ForbiddenError
from assistant.store.tables import User, utcnow
from assistant.store.users import authenticate

SESSION_COOKIE = "assistant_session"
bearer = HTTPBearer(auto_error=False, description="A token from `assistant users create`")


class NotAuthenticatedError(Exception):
    """No valid bearer token or session cookie (401)."""


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_queue(request: Request) -> JobQueue:
    return request.app.state.queue


def get_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    """A session per request; routes commit what they change, the rest is rolled back."""
    with db.sessions() as session:
        yield session


def get_today(request: Request) -> date:
    """Today (UTC) for due dates; tests set ``app.state.today`` to a fixed day."""
    fixed = getattr(request.app.state, "today", None)
    return fixed if isinstance(fixed, date) else utcnow().date()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
TodayDep = Annotated[date, Depends(get_today)]
DatabaseDep = Annotated[Database, Depends(get_db)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
SessionDep = Annotated[Session, Depends(get_session)]


def current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """The user of the bearer token, else of the session cookie. A cookie alone is sent by the
    browser to any request, so one that changes something must also carry the CSRF token."""
    if credentials is not None:
        token, from_cookie = credentials.credentials, False
    else:
        token, from_cookie = request.cookies.get(SESSION_COOKIE) or "", True
    user = authenticate(session, token)
    if user is None:
        raise NotAuthenticatedError()
    unsafe = request.method not in SAFE_METHODS
    if from_cookie and unsafe and not csrf_ok(token, request.headers.get(CSRF_HEADER)):
        raise ForbiddenError(
            f"This request is signed in by the session cookie but has no valid {CSRF_HEADER} "
            "header; reload the page and try again"
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: str) -> Callable[[User], User]:
    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise ForbiddenError(f"This needs the role {' or '.join(roles)}; you are {user.role}")
        return user

    return check


AdminUser = Annotated[User, Depends(require_role("admin"))]
