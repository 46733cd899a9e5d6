"""The job queue: one interface, and the embedded queue that lives in the database.

A job is a row in ``jobs``. The API creates it (``queued``) and hands it to a ``JobQueue``; a
worker claims it (``running``, with its id and a heartbeat), reports progress per stage, and ends it
``done`` or ``failed``. The embedded queue needs nothing but the database: ``submit`` has nothing
to do, because a queued row *is* the queue entry. A broker-backed queue (Celery) implements the
same ``submit`` by sending the job id, and its workers use the same functions below.

Crash safety: a job whose worker stops heartbeating (killed, machine restarted) is put back in the
queue by ``requeue_stale``/``requeue_worker`` and runs again; results are written in one
transaction that replaces earlier ones, so a job that runs twice leaves one set of results.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select, update

from assistant.errors import WORKER_LOST
from assistant.store.db import Database
from assistant.store.tables import Call, Job, utcnow

QUEUES = ("embedded", "celery")


class JobQueue(Protocol):
    """Where new jobs go. ``submit`` is called after the job row is committed."""

    name: str

    def submit(self, job_id: int) -> None: ...


class EmbeddedQueue:
    """The database is the queue; worker processes started by ``assistant serve`` poll it."""

    name = "embedded"

    def submit(self, job_id: int) -> None:
        return None


def _running(worker: str, now: datetime) -> dict[str, object]:
    """The columns a claimed job gets, whichever way it was claimed."""
    return {
        "status": "running",
        "worker": worker,
        "heartbeat_at": now,
        "started_at": now,
        "attempts": Job.attempts + 1,
        "error": None,
    }


def claim(db: Database, worker: str, now: datetime | None = None) -> int | None:
    """Take the oldest runnable job for ``worker``; None when there is none.

    One UPDATE decides the winner: on SQLite writers are serialized, on PostgreSQL the
    ``FOR UPDATE SKIP LOCKED`` subquery keeps two workers from taking the same row.
    """
    now = now or utcnow()
    candidate = (
        select(Job.id)
        .where(Job.status == "queued", Job.run_after <= now)
        .order_by(Job.run_after, Job.id)
        .limit(1)
    )
    if db.dialect == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    with db.session() as session:
        job_id = session.scalar(
            update(Job)
            .where(Job.id == candidate.scalar_subquery(), Job.status == "queued")
            .values(**_running(worker, now))
            .returning(Job.id)
        )
        if job_id is not None:
            session.execute(
                update(Call)
                .where(Call.id == select(Job.call_id).where(Job.id == job_id).scalar_subquery())
                .values(status="processing", error=None)
            )
    return job_id


def heartbeat(
    db: Database, job_id: int, worker: str, stage: str | None = None, progress: float | None = None
) -> bool:
    """Say the job is alive (and how far it got); False if the job is no longer ours."""
    values: dict[str, object] = {"heartbeat_at": utcnow()}
    if stage is not None:
        values["stage"] = stage
    if progress is not None:
        values["progress"] = round(min(max(progress, 0.0), 1.0), 4)
    with db.session() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.worker == worker, Job.status == "running")
            .values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def requeue_worker(db: Database, worker: str) -> int:
    """Put back the jobs a worker that is known to be gone was running."""
    with db.session() as session:
        result = session.execute(
            update(Job)
            .where(Job.status == "running", Job.worker == worker)
            .values(status="queued", worker=None, run_after=utcnow())
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def requeue_stale(
    db: Database,
    stale_after_s: float,
    worker_prefix: str | None = None,
    now: datetime | None = None,
) -> int:
    """Put back running jobs whose heartbeat is older than ``stale_after_s`` (or, with
    ``worker_prefix``, every running job of workers whose id starts with it: this machine's
    workers after a restart). Jobs that have used up their attempts fail instead."""
    return len(requeue_stale_jobs(db, stale_after_s, worker_prefix, now))


def requeue_stale_jobs(
    db: Database,
    stale_after_s: float,
    worker_prefix: str | None = None,
    now: datetime | None = None,
) -> list[int]:
    """``requeue_stale``, returning the ids of the jobs it put back in the queue (a broker-backed
    queue sends those again)."""
    now = now or utcnow()
    stale = Job.heartbeat_at < now - timedelta(seconds=stale_after_s)
    if worker_prefix:
        stale = or_(stale, Job.worker.startswith(worker_prefix, autoescape=True))
    with db.session() as session:
        jobs = session.scalars(
            select(Job).where(Job.status == "running", stale).with_for_update()
        ).all()
        requeued = []
        for job in jobs:
            if job.attempts >= job.max_attempts:
                job.status, job.error_kind = "failed", WORKER_LOST
                job.error = (
                    f"the worker stopped during this job {job.attempts} times; giving up "
                    "(see the server log)"
                )
                job.finished_at = now
                call = session.get(Call, job.call_id) if job.call_id is not None else None
                if call is not None:
                    call.status, call.error = "failed", job.error
            else:
                job.status, job.worker, job.run_after = "queued", None, now
                requeued.append(job.id)
        return requeued


def claim_job(db: Database, job_id: int, worker: str, now: datetime | None = None) -> str:
    """Claim one given job (a broker delivered its id): ``"claimed"``, or why not: ``"gone"``
    (its call was deleted), ``"done"``, ``"failed"``, ``"running"`` (another worker has it) or
    ``"later"`` (queued, but its retry time has not come). A delivery that is not ``"claimed"``
    has nothing to do: brokers deliver at least once, so duplicates are expected."""
    now = now or utcnow()
    with db.session() as session:
        claimed = session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.status == "queued",
                Job.run_after <= now + timedelta(seconds=1),
            )
            .values(**_running(worker, now))
            .returning(Job.id, Job.call_id)
        ).first()
        if claimed is not None:
            if claimed.call_id is not None:  # a voice job has no call
                session.execute(
                    update(Call)
                    .where(Call.id == claimed.call_id)
                    .values(status="processing", error=None)
                )
            return "claimed"
        job = session.get(Job, job_id)
        if job is None:
            return "gone"
        return "later" if job.status == "queued" else job.status


def release(db: Database, job_id: int, worker: str) -> None:
    """Give a job back without counting the attempt (the worker is shutting down)."""
    with db.session() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.worker == worker, Job.status == "running")
            .values(status="queued", worker=None, attempts=Job.attempts - 1, run_after=utcnow())
        )
