"""Where the job system stands: jobs by state from the database; with the Celery queue also the
broker's queue depth and the workers that answer a ping (``assistant status``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from assistant.redact import redact_url
from assistant.store.db import Database
from assistant.store.tables import JOB_STATUSES, Job, utcnow

if TYPE_CHECKING:
    from assistant.settings import Settings


@dataclass(frozen=True)
class RunningJob:
    job_id: int
    worker: str
    stage: str | None
    progress: float
    heartbeat_age_s: float | None


@dataclass(frozen=True)
class QueueStatus:
    queue: str
    jobs: dict[str, int]
    running: list[RunningJob] = field(default_factory=list)
    broker: str | None = None
    waiting: int | None = None  # messages in the broker queue, not yet taken by a worker
    delivered: int | None = None  # taken by a worker, not yet acknowledged (running or reserved)
    workers: list[str] | None = None  # Celery workers that answered a ping
    stale_after_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_counts(db: Database) -> dict[str, int]:
    with db.session() as session:
        rows = session.execute(select(Job.status, func.count(Job.id)).group_by(Job.status)).all()
    counts = dict.fromkeys(JOB_STATUSES, 0)
    counts.update({status: int(n) for status, n in rows})
    return counts


def running_jobs(db: Database) -> list[RunningJob]:
    now = utcnow()
    with db.session() as session:
        jobs = session.scalars(select(Job).where(Job.status == "running").order_by(Job.id)).all()
        return [
            RunningJob(
                job_id=j.id,
                worker=j.worker or "",
                stage=j.stage,
                progress=j.progress,
                heartbeat_age_s=(
                    round((now - j.heartbeat_at).total_seconds(), 1) if j.heartbeat_at else None
                ),
            )
            for j in jobs
        ]


def alive_workers(settings: Settings, timeout_s: float = 1.0) -> list[str]:
    from assistant.jobs.celery_queue import make_app

    app = make_app(settings)
    try:
        replies = app.control.ping(timeout=timeout_s) or []
    finally:
        app.close()
    return sorted(name for reply in replies for name in reply)


def collect(settings: Settings, db: Database, timeout_s: float = 1.0) -> QueueStatus:
    """The status of the configured queue (``settings.queue``). Raises ``BrokerError`` when the
    Celery queue's broker does not answer."""
    jobs = job_counts(db)
    running = running_jobs(db)
    if settings.queue != "celery":
        return QueueStatus(
            queue=settings.queue,
            jobs=jobs,
            running=running,
            stale_after_s=settings.job_stale_after_s,
        )
    from assistant.jobs.celery_queue import broker_client, broker_contents

    contents = broker_contents(settings, broker_client(settings))
    return QueueStatus(
        queue="celery",
        jobs=jobs,
        running=running,
        broker=redact_url(settings.broker_url),
        waiting=len(contents.waiting),
        delivered=len(contents.unacked),
        workers=alive_workers(settings, timeout_s),
        stale_after_s=settings.job_stale_after_s,
    )
