"""The embedded job queue on a real database: one claimant per job, stale jobs come back,
retries back off, attempts run out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from assistant.jobs import queue
from assistant.jobs.worker import Worker, backoff_s
from assistant.store import Database
from assistant.store.calls import NewCall, create_call
from assistant.store.tables import Call, Job, utcnow
from assistant.store.users import create_user
from tests.helpers.service import make_database_url, make_settings


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url, cleanup = make_database_url(request.param, tmp_path)
    database = Database(url)
    database.migrate()
    yield database
    database.dispose()
    cleanup()  # type: ignore[operator]


def make_jobs(db: Database, n: int) -> list[int]:
    with db.session() as session:
        owner = create_user(session, "alice", "rep")
        ids = []
        for i in range(n):
            new = NewCall(f"{i:064x}", f"call{i}.wav", 1, "wav", "audio", 10.0)
            ids.append(create_call(session, owner, new)[1].id)
    return ids


def test_each_job_is_claimed_by_exactly_one_worker(db: Database) -> None:
    ids = make_jobs(db, 40)
    claimed: dict[str, list[int]] = {}

    def work(name: str) -> None:
        mine = claimed.setdefault(name, [])
        while (job_id := queue.claim(db, name)) is not None:
            mine.append(job_id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [j for jobs in claimed.values() for j in jobs]
    assert sorted(everything) == ids  # all of them, none twice
    with db.session() as session:
        for job in session.scalars(select(Job)):
            assert job.status == "running" and job.attempts == 1
            assert job.id in claimed[job.worker or ""]
        assert {c.status for c in session.scalars(select(Call))} == {"processing"}


def test_heartbeat_belongs_to_the_claimant(db: Database) -> None:
    (job_id,) = make_jobs(db, 1)
    assert queue.claim(db, "w1") == job_id
    assert queue.heartbeat(db, job_id, "w1", stage="transcribe", progress=0.3)
    assert not queue.heartbeat(db, job_id, "w2")
    with db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.stage == "transcribe" and job.progress == 0.3


def test_stale_job_is_requeued_then_fails_when_attempts_run_out(db: Database) -> None:
    (job_id,) = make_jobs(db, 1)
    clock = utcnow()
    for attempt in range(1, 4):
        assert queue.claim(db, f"w{attempt}", now=clock) == job_id
        clock += timedelta(seconds=120)  # no heartbeat for two minutes
        # the count is of jobs put back; the last one fails instead
        assert queue.requeue_stale(db, 60, now=clock) == (1 if attempt < 3 else 0)
        with db.session() as session:
            job = session.get(Job, job_id)
            assert job is not None and job.attempts == attempt
            expected = "queued" if attempt < 3 else "failed"
            assert job.status == expected
    with db.session() as session:
        call = session.scalar(select(Call))
        assert call is not None and call.status == "failed"
        assert "worker stopped" in (call.error or "")


def test_fresh_heartbeat_is_not_stale(db: Database) -> None:
    (job_id,) = make_jobs(db, 1)
    queue.claim(db, "w1")
    assert queue.requeue_stale(db, 60) == 0
    assert queue.requeue_worker(db, "w-other") == 0
    assert queue.requeue_worker(db, "w1") == 1
    assert queue.claim(db, "w2") == job_id


def test_restart_requeues_this_machines_running_jobs(db: Database) -> None:
    (job_id,) = make_jobs(db, 1)
    queue.claim(db, "host-a:123:0")
    assert queue.requeue_stale(db, 1e9, worker_prefix="host-b:") == 0
    assert queue.requeue_stale(db, 1e9, worker_prefix="host-a:") == 1
    assert queue.claim(db, "host-a:456:0") == job_id


def test_retry_backs_off_and_stops_after_max_attempts(db: Database, tmp_path: Path) -> None:
    (job_id,) = make_jobs(db, 1)
    worker = Worker(db, make_settings(tmp_path, db.url), "w1")
    with db.session() as session:
        call_id = session.scalar(select(Job.call_id))
    for attempt in range(1, 4):
        assert queue.claim(db, "w1", now=utcnow() + timedelta(hours=attempt)) == job_id
        worker.fail(job_id, call_id, "database went away", retry=True)  # type: ignore[arg-type]
        with db.session() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if attempt < 3:
                assert job.status == "queued"
                wait = (job.run_after - utcnow()).total_seconds()
                assert backoff_s(attempt) - 5 < wait <= backoff_s(attempt)
            else:
                assert job.status == "failed" and job.error == "database went away"
    assert backoff_s(1) < backoff_s(2) < backoff_s(3)


def test_input_errors_fail_at_once(db: Database, tmp_path: Path) -> None:
    """A job whose recording is missing fails on the first attempt, with the reason."""
    (job_id,) = make_jobs(db, 1)
    worker = Worker(db, make_settings(tmp_path, db.url), "w1")
    assert worker.run_once()
    with db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "failed" and job.attempts == 1
        assert "no such file" in (job.error or "")
    assert not worker.run_once()


def test_a_job_taken_over_keeps_one_set_of_results(db: Database, tmp_path: Path) -> None:
    """A worker that lost its job (requeued while it ran) must not write results."""
    (job_id,) = make_jobs(db, 1)
    queue.claim(db, "old")
    with db.session() as session:
        session.execute(update(Job).values(worker="new"))
    worker = Worker(db, make_settings(tmp_path, db.url), "old")
    worker.fail(job_id, 1, "late failure", retry=False)
    with db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "running" and job.worker == "new"


def test_housekeeping_chores_keep_their_pace_across_passes() -> None:
    """The Celery sweeper keeps one schedule from sweep to sweep, so hourly retention runs
    hourly, not every sweep."""
    from assistant.jobs.worker import Schedule

    schedule = Schedule()
    assert schedule.due("retention", 3600, now=0.0)
    assert not schedule.due("retention", 3600, now=15.0)
    assert not schedule.due("retention", 3600, now=3600.0)
    assert schedule.due("retention", 3600, now=3600.5)
    schedule.again("retention")
    assert schedule.due("retention", 3600, now=3601.0)
