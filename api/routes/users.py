"""Users: who am I; admins create users (with a token) and list them."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import AdminUser, CurrentUser, SessionDep
from api.schemas import Message, UserCreate, UserCreated, UserPublic, UsersPublic
from assistant.store import users as store
from assistant.store.models import User

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@router.get("", response_model=UsersPublic, responses={403: {"model": Message}})
def list_users(user: AdminUser, session: SessionDep) -> UsersPublic:
    users = session.scalars(select(User).order_by(User.name)).all()
    return UsersPublic(data=[UserPublic.model_validate(u) for u in users], count=len(users))


@router.post(
    "",
    status_code=201,
    response_model=UserCreated,
    responses={403: {"model": Message}, 409: {"model": Message}},
)
def create_user(body: UserCreate, user: AdminUser, session: SessionDep) -> UserCreated:
    """Create a user; the response holds their bearer token, shown only this once."""
    created = store.create_user(session, body.name, body.role, body.team)
    token = store.issue_token(session, created)
    session.commit()
    return UserCreated(**UserPublic.model_validate(created).model_dump(), token=token)
