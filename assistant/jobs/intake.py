"""Recordings from a folder into the service: each becomes a call with a job, exactly as an upload
does, so a batch's results are in the database and the web app like any uploaded call.

``register`` checks the file as media (``media.check``) and registers it
(``lifecycle.register_call``), both exactly as an upload does: copied into the shared recordings
directory (named by its sha256), with a call and its job; the same recording registered again by
the same owner returns the existing call (a finished one is skipped, a failed one gets a new job).
``job_states`` is what ``assistant batch --enqueue`` polls to draw its progress bar while the
workers run the jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.errors import AssistantError, InputError, OptionError
from assistant.jobs import lifecycle, queue
from assistant.jobs.worker import Worker, worker_id
from assistant.media import MediaOptions, check, sha256_file
from assistant.pipeline import Pipeline, StageProgress
from assistant.report import CallReport
from assistant.settings import Settings
from assistant.store import calls as call_store
from assistant.store.db import Database
from assistant.store.tables import Call, Job, User
from assistant.store.users import ensure_admin

TERMINAL = ("done", "failed")


@dataclass(frozen=True)
class Registered:
    path: Path
    call_id: int
    job_id: int
    status: str  # the job's status right after registering: queued, running, done or failed
    created: bool  # a new job that still has to be sent to the queue
    duration_s: float | None


def batch_owner(db: Database, name: str | None) -> str:
    """The user a batch's calls belong to: ``name``, or the first admin (created on a fresh
    database, as ``assistant serve`` does)."""
    with db.session() as session:
        if name:
            if session.scalar(select(User.id).where(User.name == name)) is None:
                raise OptionError(
                    f"No user {name!r}; create it with `assistant users create {name}` or pick "
                    "another with --rep"
                )
            return name
        ensure_admin(session)
        admin = session.scalar(select(User).where(User.role == "admin").order_by(User.id))
        assert admin is not None
        return admin.name


def register(
    db: Database,
    settings: Settings,
    owner: str,
    path: Path,
    language: str | None = None,
    max_attempts: int | None = None,
) -> Registered:
    """One recording as a call with a job (``lifecycle.register_call``). Raises ``MediaError``
    for what is not usable media."""
    info = check(path, MediaOptions(max_duration_s=settings.max_duration_s))
    new = call_store.NewCall(
        sha256=sha256_file(path),
        filename=path.name,
        size_bytes=path.stat().st_size,
        media_format=info.format,
        media_kind=info.kind,
        duration_s=info.duration_s,
        title=path.stem,
        language=language,
    )

    def user(session: Session) -> User:
        found = session.scalar(select(User).where(User.name == owner))
        if found is None:
            raise OptionError(f"No user {owner!r}")
        return found

    def describe(session: Session, call: Call, job: Job, created: bool) -> Registered:
        return Registered(path, call.id, job.id, job.status, created, call.duration_s)

    return lifecycle.register_call(
        db,
        settings.recordings_dir,
        user,
        new,
        path,
        describe,
        move=False,
        max_attempts=max_attempts or settings.job_max_attempts,
    )


@dataclass(frozen=True)
class JobState:
    status: str
    stage: str | None
    progress: float
    error: str | None
    seconds: float | None  # from start to finish of the last attempt


def job_states(db: Database, job_ids: list[int]) -> dict[int, JobState]:
    """The state of each job; a job whose call was deleted meanwhile counts as failed."""
    with db.session() as session:
        rows = session.scalars(select(Job).where(Job.id.in_(job_ids))).all()
        states = {
            j.id: JobState(
                j.status,
                j.stage,
                j.progress,
                j.error,
                (j.finished_at - j.started_at).total_seconds()
                if j.finished_at and j.started_at
                else None,
            )
            for j in rows
        }
    for job_id in job_ids:
        states.setdefault(job_id, JobState("failed", None, 0.0, "the call was deleted", None))
    return states


class StoredBatch:
    """The local ``assistant batch``: each recording is registered as a call and its job runs
    right here, through the same ``Worker`` the queues run, with the batch's own pipeline (its
    models loaded once). So a local batch leaves the same results in the database as
    ``--enqueue`` does; ``run`` returns the report for the batch's report files."""

    def __init__(self, pipeline: Pipeline, db: Database, settings: Settings, owner: str) -> None:
        self.pipeline = pipeline
        self.db = db
        self.settings = settings
        self.owner = owner
        self.worker = Worker(db, settings, worker_id("batch"), self._analyse)
        self.progress: StageProgress | None = None

    def _analyse(self, path: Path, options: dict[str, Any], progress: StageProgress) -> CallReport:
        def both(stage: str, fraction: float) -> None:
            progress(stage, fraction)
            if self.progress is not None:
                self.progress(stage, fraction)

        return self.pipeline.run(path, both)

    def run(self, path: Path, progress: StageProgress | None = None) -> CallReport:
        entry = register(
            self.db,
            self.settings,
            self.owner,
            path,
            self.pipeline.options.transcribe.language,
            max_attempts=1,
        )
        if queue.claim_job(self.db, entry.job_id, self.worker.name) == "claimed":
            self.progress = progress
            self.worker.process(entry.job_id)
        with self.db.session() as session:
            job = session.get(Job, entry.job_id)
            call = session.get(Call, entry.call_id)
            if job is None or call is None:
                raise InputError(f"{path.name}: the call was deleted while it ran")
            if job.status == "failed":
                raise AssistantError(job.error or f"{path.name}: the analysis failed")
            if job.status != "done" or call.report is None:
                raise AssistantError(
                    f"{path.name}: another worker is analysing this recording (job {job.id}); "
                    "run the batch again when it is done"
                )
            report = CallReport.model_validate(call.report)
        return report.model_copy(
            update={"source": report.source.model_copy(update={"path": str(path)})}
        )
