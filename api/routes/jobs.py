"""Jobs: where the analysis of a call, or the enrollment of a user's voice, stands."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import CurrentUser, SessionDep
from api.schemas import Id, JobPublic, Message
from assistant.store import NotFoundError
from assistant.store.access import may_see_user, visible
from assistant.store.tables import Call, Job, User

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobPublic, responses={404: {"model": Message}})
def get_job(job_id: Id, user: CurrentUser, session: SessionDep) -> JobPublic:
    """Status (queued, running, done, failed), current stage, progress 0-1, and the error.
    A call's job is visible to whoever may see the call, a voice job to whoever may see the
    user it enrolls."""
    job = session.get(Job, job_id)
    if job is not None and job.call_id is not None:
        call = session.scalar(select(Call.id).where(Call.id == job.call_id, visible(user)))
        seen = call is not None
    else:
        owner = session.get(User, job.user_id) if job and job.user_id is not None else None
        seen = owner is not None and may_see_user(user, owner)
    if job is None or not seen:
        raise NotFoundError(f"No job {job_id}")
    return JobPublic.model_validate(job)
