"""Browser sessions: the session cookie and the CSRF token that goes with it.

A browser signs in with a one-time login link (``/api/auth/login``) or by pasting a token on
``/login``; either way it gets its own ``session`` token in an HttpOnly, SameSite=Lax cookie.
A request that changes something and is authenticated by that cookie must also carry the CSRF
token: in the ``X-CSRF-Token`` header (scripts) or the ``csrf_token`` form field (forms).

The CSRF token is an HMAC of the session token: it needs no storage, changes with every session,
and a page of another site can neither read the cookie nor compute the token. Before a session
exists (the login form), a random token is set in a short-lived cookie and echoed by the form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
LOGIN_CSRF_COOKIE = "assistant_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PURPOSE = b"assistant-csrf-v1"


def csrf_token(session_token: str) -> str:
    """The CSRF token that belongs to ``session_token``."""
    return hmac.new(session_token.encode("utf-8"), _PURPOSE, hashlib.sha256).hexdigest()


def csrf_ok(session_token: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(session_token), given or "")


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(
    response: Response, request: Request, cookie: str, token: str, max_age_s: int
) -> None:
    """The session cookie, for both ways of signing in (login link and login form): HttpOnly,
    SameSite=Lax, and Secure when the request came over https (``is_secure``)."""
    response.set_cookie(
        cookie,
        token,
        max_age=max_age_s,
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
    )


def login_csrf(request: Request) -> str:
    """The pre-session token of the login form: the cookie's if it has one, else a new one."""
    current = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return current if 20 <= len(current) <= 100 else secrets.token_urlsafe(24)


def set_login_csrf(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
    )


def login_csrf_ok(request: Request, given: str | None) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return bool(expected) and bool(given) and hmac.compare_digest(expected, given or "")
