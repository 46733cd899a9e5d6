"""Signing in from a browser: a one-time login link becomes a session cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from api.deps import SESSION_COOKIE, AdminUser, SessionDep, SettingsDep
from api.schemas import Id, LoginLink, Message
from api.web_session import set_session_cookie
from assistant.store import users as store
from assistant.store.tables import User

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.get("/login", responses={303: {"description": "Signed in"}, 401: {"model": Message}})
def login(
    request: Request,
    session: SessionDep,
    token: Annotated[str, Query(min_length=1, max_length=200)],
) -> Response:
    """Spend a one-time login token (from ``assistant serve`` or an admin) and get a session
    cookie; then go to the web app."""
    session_token = store.redeem_login_link(session, token)
    if session_token is None:
        return JSONResponse(
            {"detail": "This login link is unknown, used or expired; ask an admin for a new one"},
            status_code=401,
        )
    session.commit()
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(
        response, request, SESSION_COOKIE, session_token, int(store.SESSION_TTL.total_seconds())
    )
    return response


@router.post(
    "/login-links/{user_id}",
    status_code=201,
    response_model=LoginLink,
    responses={403: {"model": Message}, 404: {"model": Message}},
)
def make_login_link(
    user_id: Id, admin: AdminUser, session: SessionDep, settings: SettingsDep
) -> LoginLink:
    """A one-time login link for a user (admins)."""
    user = session.get(User, user_id)
    if user is None:
        from assistant.store import NotFoundError

        raise NotFoundError(f"No user {user_id}")
    token = store.create_login_link_token(session, user)
    session.commit()
    base = settings.public_url.rstrip("/")
    return LoginLink(
        url=f"{base}/api/auth/login?token={token}",
        expires_in_s=int(store.LOGIN_LINK_TTL.total_seconds()),
    )
