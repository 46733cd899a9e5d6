"""Dependencies shared by the routes: settings, database session, the signed-in user."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from assistant.jobs import JobQueue
from assistant.settings import Settings
from assistant.store import Database, ForbiddenError
from assistant.store.models import User
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


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_db)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
SessionDep = Annotated[Session, Depends(get_session)]


def current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    token = credentials.credentials if credentials else request.cookies.get(SESSION_COOKIE)
    user = authenticate(session, token or "")
    if user is None:
        raise NotAuthenticatedError()
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: str) -> Callable[[User], User]:
    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise ForbiddenError(f"This needs the role {' or '.join(roles)}; you are {user.role}")
        return user

    return check


AdminUser = Annotated[User, Depends(require_role("admin"))]
