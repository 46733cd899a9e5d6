"""The scale-out queue: Celery on a Redis broker, with the job rows in the (PostgreSQL) database.

::

    API / batch --submit(job id)--> Redis list --> assistant worker (prefork, N processes)
                                                     run_job(job id): claim_job -> Worker.process
                                                     (with a time-limited ``analyse``)
                                                     (the code the embedded queue runs)

A message carries the job id and nothing else: the recording sits in the shared data directory
under its sha256, options and results are in the database. The database stays the record of what
is queued, running and done; the broker only wakes workers up. Celery delivers at least once, so:

- a delivery first claims its job with one conditional UPDATE (``queue.claim_job``); a duplicate
  (the job is running elsewhere, done, failed or deleted) ends at once without touching anything;
- the same recording analysed by the same pipeline version is reused, not run again, and results
  are written in one transaction that replaces earlier ones: a job run twice leaves one set;
- ``acks_late`` with prefetch 1: a message is acknowledged only after its job ended, and a worker
  process that dies mid-job has its message put back (``task_reject_on_worker_lost``);
- the Redis visibility timeout is longer than the hard time limit of the longest allowed call, so
  a slow job is never handed to a second worker while the first still runs it;
- soft and hard time limits are scaled to the call's duration; a job past its soft limit fails
  with a message that says which setting to raise; retries with backoff only for retryable errors;
- a sweeper in every worker (one at a time, under a Redis lock) puts jobs whose heartbeat stopped
  back in the queue and sends again any queued job the broker has no message for (a worker killed
  with its whole machine, a Redis restart without persistence), and delivers webhooks.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from assistant.errors import AssistantError, OptionError
from assistant.jobs import queue, webhooks
from assistant.jobs.worker import (
    Analyse,
    Schedule,
    Worker,
    analyse_with_pipeline,
    backoff_s,
    housekeeping,
    worker_id,
)
from assistant.pipeline import StageProgress
from assistant.redact import redact_url
from assistant.report import CallReport
from assistant.store.db import Database
from assistant.store.tables import Call, Job, utcnow

if TYPE_CHECKING:
    from celery import Celery, Task

    from assistant.settings import Settings

log = logging.getLogger("assistant.celery")

TASK_NAME = "assistant.run_job"
SWEEP_LOCK = "assistant:sweeper"
# Seconds between the two looks that must both find a queued job's message missing.
RECHECK_S = 1.0
# kombu's Redis transport keeps priorities 3, 6 and 9 in lists named QUEUE + this + priority.
_PRIORITY_SEP = "\x06\x16"
_PRIORITIES = ("", *(f"{_PRIORITY_SEP}{p}" for p in (3, 6, 9)))
_UNACKED = "unacked"
MAX_BACKOFF_S = backoff_s(100)


class BrokerError(AssistantError):
    """The broker (Redis) cannot be reached or used."""

    kind = "broker"
    retryable = True


class JobTimeLimitError(AssistantError):
    """A job ran past its soft time limit; it would again, so it is not retried."""

    kind = "time_limit"


# -- limits --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeLimits:
    soft_s: int
    hard_s: int


def time_limits(settings: Settings, duration_s: float | None) -> TimeLimits:
    """Soft and hard limits for a call of ``duration_s`` (unknown: the longest allowed)."""
    seconds = settings.max_duration_s if duration_s is None else min(duration_s, 1e9)
    soft = settings.job_time_base_s + settings.job_time_per_audio_s * max(seconds, 0.0)
    return TimeLimits(math.ceil(soft), math.ceil(soft * 1.2 + 60))


def visibility_timeout_s(settings: Settings) -> int:
    """Longer than the longest job can run (hard limit of the longest allowed call) plus the
    longest retry wait: Redis hands an unacknowledged message to another worker only after it."""
    return time_limits(settings, settings.max_duration_s).hard_s + int(MAX_BACKOFF_S) + 600


def check_broker_url(url: str) -> str:
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise OptionError(
            f"ASSISTANT_BROKER_URL {redact_url(url)!r} is not a Redis URL; use redis://HOST:6379/0 "
            "(the celery queue runs on Redis)"
        )
    return url


# -- the app -------------------------------------------------------------------------------------


def make_app(settings: Settings) -> Celery:
    """A Celery app for ``settings`` with the job task registered (no result backend: results go
    to the database, in the same transaction that ends the job)."""
    from celery import Celery

    app = Celery("assistant", broker=check_broker_url(settings.broker_url), set_as_current=False)
    app.conf.update(
        task_default_queue=settings.broker_queue,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=time_limits(settings, settings.max_duration_s).hard_s,
        broker_transport_options={"visibility_timeout": visibility_timeout_s(settings)},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_enable_remote_control=True,
        worker_send_task_events=False,
    )

    from celery import Task as BaseTask
    from celery.exceptions import TimeLimitExceeded

    class JobTask(BaseTask):
        def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
            # A hard time limit kills the process running the job; this runs in the worker's
            # main process, which is still there to say so.
            if isinstance(exc, TimeLimitExceeded) and args:
                limit = exc.args[0] if exc.args else None
                fail_stopped_job(settings, int(args[0]), limit)

    @app.task(name=TASK_NAME, bind=True, max_retries=None, base=JobTask)
    def run_job(task: Task, job_id: int) -> str:
        return execute(task, settings, int(job_id))

    return app


_DATABASES: dict[tuple[str, int], Database] = {}


def process_database(url: str) -> Database:
    """One engine per process: a forked worker process never uses its parent's connections."""
    key = (url, os.getpid())
    if key not in _DATABASES:
        _DATABASES[key] = Database(url)
    return _DATABASES[key]


def forget_parent_databases() -> None:
    """In a forked process: drop the engines of the parent without closing its connections."""
    for (url, pid), db in list(_DATABASES.items()):
        if pid != os.getpid():
            db.engine.dispose(close=False)
            del _DATABASES[(url, pid)]


def fail_stopped_job(settings: Settings, job_id: int, limit_s: float | None) -> None:
    """The job's process was killed at its hard time limit: the job fails (no retry; it would
    run as long again) with a message that says what to change."""
    limit = f" of {limit_s:.0f} s" if limit_s else ""
    message = (
        f"the analysis ran past its hard time limit{limit} and was stopped; raise "
        "ASSISTANT_JOB_TIME_BASE_S or ASSISTANT_JOB_TIME_PER_AUDIO_S, or use a faster model"
    )
    db = process_database(settings.resolved_database_url)
    with db.session() as session:
        job = session.get(Job, job_id)
        call = session.get(Call, job.call_id) if job and job.call_id is not None else None
        if job is None or job.status != "running":
            return
        job.status, job.error, job.finished_at = "failed", message, utcnow()
        job.error_kind = JobTimeLimitError.kind
        if call is not None:  # a voice job has no call
            call.status, call.error = "failed", message
            webhooks.enqueue(session, "call.failed", call)
    log.error("job %s: %s", job_id, message)


def time_limited(analyse: Analyse, soft_limit_s: float | None) -> Analyse:
    """``analyse`` in a Celery task: its soft time limit becomes a job failure that says what to
    change."""

    def run(path: Path, options: dict[str, Any], progress: StageProgress) -> CallReport:
        from celery.exceptions import SoftTimeLimitExceeded

        try:
            return analyse(path, options, progress)
        except SoftTimeLimitExceeded as exc:
            limit = f" of {soft_limit_s:.0f} s" if soft_limit_s else ""
            raise JobTimeLimitError(
                f"the analysis ran past its time limit{limit}; raise ASSISTANT_JOB_TIME_BASE_S "
                "or ASSISTANT_JOB_TIME_PER_AUDIO_S, or use a faster model"
            ) from exc

    return run


def execute(task: Task, settings: Settings, job_id: int) -> str:
    """Run one delivered job; returns what happened (``done``, ``failed``, or why it was skipped).

    Raises Celery's ``Retry`` when the job failed with a retryable error and has attempts left:
    the same job id is sent again after the backoff the job row records."""
    db = process_database(settings.resolved_database_url)
    limits = getattr(task.request, "timelimit", None) or (None, None)
    analyse = time_limited(analyse_with_pipeline(settings), limits[1])
    worker = Worker(db, settings, worker_id("celery"), analyse)
    # A job "running" with a stale heartbeat is left to the sweeper, which requeues and resends it.
    state = queue.claim_job(db, job_id, worker.name)
    if state != "claimed":
        reason = "its call was deleted" if state == "gone" else f"it is {state}"
        log.info("job %s: nothing to do, %s", job_id, reason)
        return state
    log.info("job %s: started by %s", job_id, worker.name)
    worker.process(job_id)
    with db.session() as session:
        job = session.get(Job, job_id)
        status = job.status if job else "gone"
        retry_in_s = (job.run_after - utcnow()).total_seconds() if job else 0.0
        failed_now = job is not None and job.error is not None
    if status == "queued" and failed_now:
        log.info("job %s: retrying in %.0f s", job_id, max(retry_in_s, 0.0))
        raise task.retry(countdown=max(retry_in_s, 0.5), max_retries=None)
    if status == "queued":
        # The sweeper took it for stale (heartbeats stopped) and sent it again meanwhile.
        log.warning("job %s: requeued while it ran; the new delivery runs it", job_id)
        return "requeued"
    log.info("job %s: %s", job_id, status)
    return status


# -- submitting ----------------------------------------------------------------------------------


class CeleryQueue:
    """``JobQueue`` over Celery: ``submit`` sends the job id with time limits for its call."""

    name = "celery"

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        check_broker_url(settings.broker_url)
        self.settings = settings
        self._db = db
        self._app: Celery | None = None

    @property
    def app(self) -> Celery:
        if self._app is None:
            self._app = make_app(self.settings)
        return self._app

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = process_database(self.settings.resolved_database_url)
        return self._db

    def limits_for(self, job_id: int) -> TimeLimits:
        with self.db.session() as session:
            duration = session.scalar(
                select(Call.duration_s).join(Job, Job.call_id == Call.id).where(Job.id == job_id)
            )
        return time_limits(self.settings, duration)

    def send(self, job_id: int, countdown_s: float | None = None) -> None:
        """Send the job id; raises ``BrokerError`` when Redis cannot be reached."""
        limits = self.limits_for(job_id)
        try:
            self.app.send_task(
                TASK_NAME,
                args=[job_id],
                queue=self.settings.broker_queue,
                soft_time_limit=limits.soft_s,
                time_limit=limits.hard_s,
                countdown=countdown_s,
                retry=True,
                retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
            )
        except Exception as exc:  # kombu raises OperationalError and redis' own errors
            raise BrokerError(
                redact_url(
                    f"cannot send job {job_id} to the broker at {self.settings.broker_url} "
                    f"({type(exc).__name__}: {exc}); start Redis or fix ASSISTANT_BROKER_URL"
                )
            ) from exc

    def submit(self, job_id: int) -> None:
        """Send a committed job. If Redis is down the job stays queued in the database and the
        workers' sweeper sends it once Redis is back, so an upload never fails on the broker."""
        try:
            self.send(job_id)
        except BrokerError as exc:
            log.warning("%s; the sweeper will send it later", exc)

    def check(self) -> None:
        """Raise ``BrokerError`` unless Redis answers."""
        broker_client(self.settings).ping()


def broker_client(settings: Settings) -> Any:
    """A Redis client for the broker; ``BrokerError`` when it does not answer."""
    import redis

    try:
        client = redis.Redis.from_url(
            check_broker_url(settings.broker_url), socket_timeout=5, socket_connect_timeout=5
        )
        client.ping()
    except redis.RedisError as exc:
        raise BrokerError(
            redact_url(
                f"the broker at {settings.broker_url} does not answer ({exc}); start "
                "redis-server or fix ASSISTANT_BROKER_URL"
            )
        ) from exc
    return client


# -- what the broker holds -----------------------------------------------------------------------


def _job_id(raw: bytes | str) -> int | None:
    """The job id in one kombu message in Redis (JSON; base64 body of [args, kwargs, embed])."""
    try:
        message = json.loads(raw)
        if isinstance(message, list):  # unacked entries are [message, exchange, routing key]
            message = message[0]
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return int(args[0])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


@dataclass(frozen=True)
class BrokerContents:
    waiting: list[int]  # job ids in the queue's lists, not yet delivered
    unacked: list[int]  # delivered to a worker and not yet acknowledged (running or reserved)


def broker_contents(settings: Settings, client: Any | None = None) -> BrokerContents:
    client = client or broker_client(settings)
    waiting: list[int] = []
    for suffix in _PRIORITIES:
        for raw in client.lrange(f"{settings.broker_queue}{suffix}", 0, -1):
            if (job := _job_id(raw)) is not None:
                waiting.append(job)
    unacked = [j for raw in client.hvals(_UNACKED) if (j := _job_id(raw)) is not None]
    return BrokerContents(waiting, unacked)


# -- the sweeper ---------------------------------------------------------------------------------


def held_by_live_workers(app: Celery, timeout_s: float = 1.0) -> set[int] | None:
    """Job ids that live workers are running, hold reserved or hold for a retry time; None when
    no worker answered (then nobody can be told apart from a dead holder)."""
    inspect = app.control.inspect(timeout=timeout_s)
    held: set[int] = set()
    for method in (inspect.active, inspect.reserved, inspect.scheduled):
        replies = method()
        if not replies:
            return None
        for tasks in replies.values():
            for task in tasks:
                request = task.get("request", task)  # scheduled entries wrap their request
                try:
                    held.add(int(request["args"][0]))
                except (KeyError, IndexError, TypeError, ValueError):
                    continue
    return held


def _without_message(
    settings: Settings, db: Database, sender: CeleryQueue, client: Any, skip: set[int]
) -> list[int]:
    """Jobs queued ``resend_after_s`` past their time whose message is nowhere: not waiting in
    Redis, and not held by a live worker."""
    contents = broker_contents(settings, client)
    waiting = set(contents.waiting)
    due = utcnow() - timedelta(seconds=settings.resend_after_s)
    with db.session() as session:
        candidates = [
            job_id
            for job_id in session.scalars(
                select(Job.id).where(Job.status == "queued", Job.run_after <= due)
            )
            if job_id not in waiting and job_id not in skip
        ]
    # A delivered message of a queued job is normal while a worker holds it reserved; it is lost
    # when its holder is gone (killed with its machine, or it dropped it on a broker restart).
    unacked = set(contents.unacked)
    lost = [j for j in candidates if j not in unacked]
    if any(j in unacked for j in candidates):
        held = held_by_live_workers(sender.app)
        if held is not None:
            lost += [j for j in candidates if j in unacked and j not in held]
    return lost


def sweep(
    settings: Settings,
    db: Database,
    sender: CeleryQueue,
    client: Any,
    schedule: Schedule | None = None,
) -> dict[str, int]:
    """One round: stale jobs back to the queue and sent again; jobs queued ``resend_after_s``
    past their time whose message is nowhere (not waiting in Redis, not held by a live worker)
    sent again; webhooks and retention as the embedded workers do them. A duplicate this may
    send is harmless: its delivery finds the job taken and ends."""
    requeued = queue.requeue_stale_jobs(db, settings.job_stale_after_s)
    for job_id in requeued:
        log.warning("job %s: its worker stopped; sending it again", job_id)
        sender.send(job_id)
    # A message moves from its queue to the unacknowledged ones in two steps, and a busy worker
    # may answer late: only a job found without a message twice, a moment apart, is lost.
    lost = _without_message(settings, db, sender, client, set(requeued))
    if lost:
        time.sleep(RECHECK_S)
        lost = sorted(set(lost) & set(_without_message(settings, db, sender, client, set())))
    for job_id in lost:
        log.warning("job %s: queued with no message in the broker; sending it again", job_id)
        sender.send(job_id)
    housekeeping(db, settings, schedule or Schedule())
    return {"requeued": len(requeued), "resent": len(lost)}


class Sweeper:
    """Runs ``sweep`` every ``sweep_every_s`` in a thread of the worker's main process; a Redis
    lock lets one worker of the cluster sweep at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sweeper", daemon=True)
        self._db: Database | None = None
        self._schedule = Schedule()  # the chores' pace holds from one sweep to the next

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def after_fork(self) -> None:
        """In a forked worker process: drop the parent's connections without closing them."""
        if self._db is not None:
            self._db.engine.dispose(close=False)

    def _run(self) -> None:
        every = self.settings.sweep_every_s
        while not self._stop.wait(every):
            try:
                if self._db is None:
                    self._db = Database(self.settings.resolved_database_url)
                sender = CeleryQueue(self.settings, self._db)
                client = broker_client(self.settings)
                lock = client.lock(SWEEP_LOCK, timeout=max(every * 4, 30), blocking=False)
                if not lock.acquire():
                    continue
                try:
                    sweep(self.settings, self._db, sender, client, self._schedule)
                finally:
                    # Expired meanwhile: another sweeper may hold it now.
                    with contextlib.suppress(Exception):
                        lock.release()
            except Exception as exc:  # Redis or the database away: try again next round
                log.warning(
                    "sweep failed (%s: %s); retrying", type(exc).__name__, redact_url(str(exc))
                )


def run_worker(settings: Settings, concurrency: int, name: str | None = None) -> None:
    """``assistant worker``: a Celery worker (prefork, ``concurrency`` processes) on the broker
    queue, plus the sweeper. Models load once per process, on its first job."""
    from celery.signals import worker_process_init

    app = make_app(settings)
    broker_client(settings)  # fail now, with a clear message, if Redis is not there
    db = Database(settings.resolved_database_url)
    db.migrate()
    db.dispose()
    settings.recordings_dir.mkdir(parents=True, exist_ok=True)
    sweeper = Sweeper(settings)

    def forked(**kwargs: object) -> None:
        sweeper.after_fork()
        forget_parent_databases()

    worker_process_init.connect(forked, weak=False)
    sweeper.start()
    try:
        app.worker_main(
            [
                "worker",
                f"--concurrency={concurrency}",
                "--pool=prefork",
                "--loglevel=INFO",
                f"--hostname={name or f'assistant-{os.getpid()}@%h'}",
                f"--queues={settings.broker_queue}",
                "--without-gossip",
                "--without-mingle",
            ]
        )
    finally:
        sweeper.stop()


__all__ = [
    "TASK_NAME",
    "BrokerError",
    "CeleryQueue",
    "JobTimeLimitError",
    "make_app",
    "run_worker",
    "sweep",
    "time_limits",
]
