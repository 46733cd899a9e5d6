"""Users and their tokens.

Tokens are 32 random bytes, shown once and stored only as their sha256; a lookup finds the row by
hash and compares in constant time. A one-time login link is a token of kind ``login`` that is
spent on first use and exchanged for a ``session`` token. A ``calendar`` token opens only its
user's read-only calendar feed of follow-ups.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from assistant.errors import OptionError
from assistant.store.db import Database
from assistant.store.errors import ConflictError, NotFoundError
from assistant.store.tables import ROLES, Token, User, utcnow

NAME = re.compile(r"^[\w.@-]{1,100}$")
LOGIN_LINK_TTL = timedelta(hours=24)
SESSION_TTL = timedelta(days=14)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_role(role: str) -> str:
    if role not in ROLES:
        raise OptionError(f"Unknown role {role!r}; expected one of: {', '.join(ROLES)}")
    return role


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise OptionError(
            f"User name {name!r} is not allowed; use 1-100 letters, digits, '.', '_', '-' or '@'"
        )
    return name


def create_user(session: Session, name: str, role: str, team: str | None = None) -> User:
    check_name(name)
    check_role(role)
    if team is not None and not (0 < len(team) <= 100):
        raise OptionError("A team name has 1 to 100 characters")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise ConflictError(f"A user named {name!r} already exists; pick another name")
    user = User(name=name, role=role, team=team)
    session.add(user)
    session.flush()
    return user


def issue_token(
    session: Session, user: User, kind: str = "api", ttl: timedelta | None = None
) -> str:
    """A new token for ``user``; the caller shows it once, only its hash is kept."""
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + ttl if ttl else None
    session.add(
        Token(user_id=user.id, token_hash=hash_token(token), kind=kind, expires_at=expires_at)
    )
    session.flush()
    return token


def authenticate(session: Session, token: str, now: datetime | None = None) -> User | None:
    """The user a bearer token belongs to, or None (unknown, expired, or a login link)."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    row = session.scalar(select(Token).where(Token.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    if row.kind not in ("api", "session"):
        return None
    if row.expires_at is not None and row.expires_at < (now or utcnow()):
        return None
    return row.user


def revoke_tokens(session: Session, user: User) -> int:
    """Delete every token of ``user``: API tokens, browser sessions and login links."""
    result = session.execute(delete(Token).where(Token.user_id == user.id))
    return int(result.rowcount)  # type: ignore[attr-defined]


def new_calendar_token(session: Session, user: User) -> str:
    """A new read-only token for ``user``'s calendar feed; the one before stops working."""
    revoke_calendar(session, user)
    return issue_token(session, user, kind="calendar")


def revoke_calendar(session: Session, user: User) -> int:
    result = session.execute(
        delete(Token).where(Token.user_id == user.id, Token.kind == "calendar")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def calendar_user(session: Session, token: str) -> User | None:
    """The user whose calendar feed ``token`` opens, or None. It opens nothing else."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    row = session.scalar(select(Token).where(Token.token_hash == digest, Token.kind == "calendar"))
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row.user


def create_login_link_token(session: Session, user: User) -> str:
    return issue_token(session, user, kind="login", ttl=LOGIN_LINK_TTL)


def redeem_login_link(session: Session, token: str) -> str | None:
    """Spend a one-time login token; returns a new session token, or None if it is not valid."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    row = session.scalar(select(Token).where(Token.token_hash == digest, Token.kind == "login"))
    now = utcnow()
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.used_at is not None:
        return None
    if row.expires_at is not None and row.expires_at < now:
        return None
    row.used_at = now
    return issue_token(session, row.user, kind="session", ttl=SESSION_TTL)


def get_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFoundError(f"No user named {name!r}")
    return user


def ensure_admin(session: Session, name: str = "admin") -> str | None:
    """With no admin yet, create one and return a one-time login token for it."""
    if session.scalar(select(func.count(User.id)).where(User.role == "admin")):
        return None
    admin = create_user(session, name, "admin")
    return create_login_link_token(session, admin)


def login_link(db: Database, url: str, name: str | None = None) -> str | None:
    """On a fresh database: create ``admin`` and return its one-time login link. With ``name``:
    a new link for that user."""
    with db.session() as session:
        if name is None:
            token = ensure_admin(session)
        else:
            token = create_login_link_token(session, get_user(session, name))
    return f"{url}/api/auth/login?token={token}" if token else None
