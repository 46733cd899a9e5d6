"""Jobs: where the analysis of a call stands."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import CurrentUser, SessionDep
from api.schemas import Id, JobPublic, Message
from assistant.store import NotFoundError
from assistant.store.calls import visible
from assistant.store.models import Call, Job

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobPublic, responses={404: {"model": Message}})
def get_job(job_id: Id, user: CurrentUser, session: SessionDep) -> JobPublic:
    """Status (queued, running, done, failed), current stage, progress 0-1, and the error."""
    job = session.scalar(
        select(Job).join(Call, Call.id == Job.call_id).where(Job.id == job_id, visible(user))
    )
    if job is None:
        raise NotFoundError(f"No job {job_id}")
    return JobPublic.model_validate(job)
