"""Signing in with a token, and out."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete

from api.deps import SESSION_COOKIE, SessionDep
from api.routes.pages.common import (
    render,
    safe_next,
)
from api.web_session import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    csrf_ok,
    login_csrf,
    login_csrf_ok,
    set_login_csrf,
    set_session_cookie,
)
from assistant.store import users as user_store
from assistant.store.tables import Token
from assistant.store.users import hash_token

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE) or ""
    signed_in = bool(token) and user_store.authenticate(session, token) is not None
    return RedirectResponse("/calls" if signed_in else "/login", status_code=303)


def _login_page(
    request: Request, next_url: str, error: str = "", status_code: int = 200
) -> HTMLResponse:
    token = login_csrf(request)
    response = render(
        request,
        "login.html",
        {"me": None, "csrf": token, "next": next_url, "error": error},
        status_code=status_code,
    )
    set_login_csrf(response, request, token)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    session: SessionDep,
    token: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/calls",
) -> Response:
    """Exchange a bearer token (from ``assistant users create``) for a browser session."""
    target = safe_next(next)
    if not login_csrf_ok(request, csrf_token):
        return _login_page(request, target, "The sign-in form expired; try again.", 403)
    given = token.strip()
    if given.startswith("http") and "token=" in given:
        # A pasted login link: send it where it is spent.
        one_time = given.split("token=", 1)[1].split("&", 1)[0]
        return RedirectResponse(
            f"/api/auth/login?{urlencode({'token': one_time})}", status_code=303
        )
    user = user_store.authenticate(session, given) if given else None
    if user is None:
        return _login_page(
            request,
            target,
            "This token is unknown or expired. Paste the access token you were given, or open "
            "your one-time login link.",
            401,
        )
    session_token = user_store.issue_token(
        session, user, kind="session", ttl=user_store.SESSION_TTL
    )
    session.commit()
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(
        response,
        request,
        SESSION_COOKIE,
        session_token,
        int(user_store.SESSION_TTL.total_seconds()),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: SessionDep,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
) -> Response:
    token = request.cookies.get(SESSION_COOKIE) or ""
    if token and csrf_ok(token, csrf_token):
        session.execute(
            delete(Token).where(Token.token_hash == hash_token(token), Token.kind == "session")
        )
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
