"""Users: who am I; admins create users (with a token) and list them."""

from __future__ import annotations

import os
import uuid

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from api import upload
from api.deps import AdminUser, CurrentUser, QueueDep, SessionDep, SettingsDep
from api.schemas import (
    Id,
    JobPublic,
    Message,
    UserCreate,
    UserCreated,
    UserPublic,
    UsersPublic,
    VoiceAccepted,
)
from assistant.diarize.profiles import ProfileStore
from assistant.media import MediaOptions
from assistant.store import NotFoundError, voice
from assistant.store import users as store
from assistant.store.access import may_see_user
from assistant.store.tables import User

router = APIRouter(prefix="/api/users", tags=["users"])

VOICE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@router.get("", response_model=UsersPublic)
def list_users(user: CurrentUser, session: SessionDep) -> UsersPublic:
    """The users you may see: everyone for admins, the team for managers, yourself for reps."""
    users = [u for u in session.scalars(select(User).order_by(User.name)) if may_see_user(user, u)]
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
    return _with_new_token(session, created)


@router.post(
    "/{user_id}/tokens",
    status_code=201,
    response_model=UserCreated,
    responses={403: {"model": Message}, 404: {"model": Message}},
)
def new_token(user_id: Id, admin: AdminUser, session: SessionDep) -> UserCreated:
    """A new bearer token for a user (admins); the response shows it once."""
    return _with_new_token(session, _visible_user(session, admin, user_id))


def _with_new_token(session: SessionDep, user: User) -> UserCreated:
    token = store.issue_token(session, user)
    session.commit()
    return UserCreated(**UserPublic.model_validate(user).model_dump(), token=token)


@router.delete(
    "/{user_id}/tokens",
    status_code=204,
    responses={403: {"model": Message}, 404: {"model": Message}},
)
def revoke_tokens(user_id: Id, admin: AdminUser, session: SessionDep) -> Response:
    """Revoke every token, session and login link of a user (admins), e.g. after a leak."""
    store.revoke_tokens(session, _visible_user(session, admin, user_id))
    session.commit()
    return Response(status_code=204)


def _visible_user(session: SessionDep, viewer: User, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not may_see_user(viewer, user):
        raise NotFoundError(f"No user {user_id}")
    return user


@router.put(
    "/{user_id}/voice",
    status_code=202,
    response_model=VoiceAccepted,
    openapi_extra=VOICE_BODY,
    responses={404: {"model": Message}, 413: {"model": Message}, 422: {"model": Message}},
)
async def enroll_voice(
    user_id: Id,
    request: Request,
    viewer: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    queue: QueueDep,
) -> VoiceAccepted:
    """Enroll (or replace) a user's voice from a recording of them speaking (field ``file``;
    30 s or more works best) -> 202 with the enrollment job; poll ``GET /api/jobs/{id}``. A
    worker makes the profile; their calls then tell them from the customer by voice. The
    recording itself is deleted once the job has ended; only the voice embedding is kept."""
    user = _visible_user(session, viewer, user_id)
    received = await upload.receive(
        request, settings.data_dir / "uploads", settings.max_upload_bytes
    )
    try:
        options = MediaOptions(max_duration_s=settings.max_duration_s)
        await upload.check_media_async(received.path, received.filename, options)
        stored = uuid.uuid4().hex
        target = voice.enrollment_path(settings.recordings_dir, stored)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(received.path, target)
        try:
            job = voice.create_voice_job(
                session, user, stored, received.filename, settings.job_max_attempts
            )
            session.commit()
        except BaseException:
            target.unlink(missing_ok=True)
            raise
    finally:
        received.discard()
    queue.submit(job.id)
    return VoiceAccepted(user=user.name, job=JobPublic.model_validate(job))


@router.delete("/{user_id}/voice", status_code=204, responses={404: {"model": Message}})
def remove_voice(
    user_id: Id, viewer: CurrentUser, session: SessionDep, settings: SettingsDep
) -> Response:
    """Forget a user's enrolled voice."""
    user = _visible_user(session, viewer, user_id)
    profiles = ProfileStore(settings.profiles_dir)
    profiles.adopt(user.id, user.name)
    if not profiles.remove_user(user.id):
        raise NotFoundError(f"{user.name} has no enrolled voice")
    return Response(status_code=204)
