"""Celery workers on Redis with PostgreSQL: a batch runs exactly once per recording; a worker killed
mid-job, a Redis restart and a deleted call lose nothing and duplicate nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from assistant.jobs.celery_queue import TASK_NAME, CeleryQueue, broker_contents, time_limits
from assistant.jobs.intake import register
from assistant.store import Database
from assistant.store import calls as call_store
from assistant.store.tables import Call, Item, Job, Segment
from tests.helpers import DATA
from tests.helpers.cluster import BIN, Cluster, variant, wait_for

pytestmark = pytest.mark.slow

# Eight different recordings (distinct content, so no result is reused from another call).
BATCH = [
    "jfk.flac",
    "testing_routine.wav",
    "another_engineer.wav",
    "another_door.wav",
    "i_tell_you.wav",
    "fleurs-en-003.ogg",
    "fleurs-en-004.ogg",
    "fleurs-en-001.ogg",
]


def starts(cluster: Cluster) -> dict[int, int]:
    """How many times each job was started by any worker, from the workers' logs."""
    counts: dict[int, int] = {}
    for match in re.finditer(r"job (\d+): started by", cluster.logs()):
        job_id = int(match.group(1))
        counts[job_id] = counts.get(job_id, 0) + 1
    return counts


def assert_one_set_of_results(cluster: Cluster, call_id: int) -> None:
    with cluster.db.session() as session:
        positions = session.scalars(select(Segment.position).where(Segment.call_id == call_id))
        seg = list(positions)
        items = list(session.scalars(select(Item.position).where(Item.call_id == call_id)))
        call = session.get(Call, call_id)
        assert call is not None and call.report is not None
        report = call.report
    assert len(seg) == len(set(seg)) == len(report["segments"])
    assert len(items) == len(set(items)) == len(report["items"])


def submit(cluster: Cluster, path: Path) -> int:
    entry = register(cluster.db, cluster.settings, "alice", path)
    assert entry.created
    CeleryQueue(cluster.settings, cluster.db).submit(entry.job_id)
    return entry.job_id


def test_a_batch_of_eight_is_processed_exactly_once_each(cluster: Cluster, tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in BATCH:
        shutil.copy(DATA / name, folder / name)
    run = cluster.cli("batch", str(folder), "--enqueue", "--rep", "alice")
    assert run.returncode == 0, run.stderr + run.stdout
    assert run.stdout.count(" done ") >= len(BATCH) or run.stdout.count("done") >= len(BATCH)
    with cluster.db.session() as session:
        calls = session.scalars(select(Call).where(Call.filename.in_(BATCH))).all()
        assert sorted(c.filename for c in calls) == sorted(BATCH)
        assert all(c.status == "done" for c in calls)
        jobs = session.scalars(select(Job).where(Job.call_id.in_([c.id for c in calls]))).all()
        call_ids = [c.id for c in calls]
        jfk = next(c for c in calls if c.filename == "jfk.flac")
        assert "fellow americans" in " ".join(s["text"] for s in jfk.report["segments"]).lower()
    assert len(jobs) == len(BATCH)
    assert all(j.status == "done" and j.attempts == 1 for j in jobs)
    started = starts(cluster)
    assert [started.get(j.id) for j in jobs] == [1] * len(BATCH)
    # Both worker processes took part.
    assert len({j.worker.rsplit(":", 2)[1] for j in jobs if j.worker}) == 2
    for call_id in call_ids:
        assert_one_set_of_results(cluster, call_id)
    # Messages waiting in Redis or reserved by a live worker were never taken for lost ones.
    assert "sending it again" not in cluster.logs()

    # A re-run submits nothing new and reports the batch as done.
    again = cluster.cli("batch", str(folder), "--enqueue", "--rep", "alice")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("skipped") == len(BATCH)
    with cluster.db.session() as session:
        assert session.scalar(select(func.count(Job.id)).where(Job.call_id.in_(call_ids))) == 8
    assert starts(cluster) == started

    status = cluster.cli("status", "--json")
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert state["queue"] == "celery" and len(state["workers"]) == 2
    assert state["jobs"]["done"] >= len(BATCH) and state["waiting"] == 0


def test_a_worker_killed_mid_job_does_not_lose_it(cluster: Cluster, tmp_path: Path) -> None:
    job_id = submit(cluster, variant(DATA / "multilingual.mp3", tmp_path / "long.wav", 0.9))

    def running_worker() -> str | None:
        job = cluster.job(job_id)
        return job.worker if job and job.status == "running" and job.stage else None

    worker = wait_for(running_worker, 120, "the job to run")
    pid = int(worker.split(":")[1])
    os.kill(pid, signal.SIGKILL)
    (job,) = cluster.wait_jobs([job_id], 300)
    assert job.status == "done", job.error
    assert job.attempts == 2
    assert job.worker != worker
    assert starts(cluster)[job_id] == 2
    assert_one_set_of_results(cluster, job.call_id)
    # The killed process was replaced: both workers still answer and run jobs.
    from assistant.jobs.status import alive_workers

    assert len(alive_workers(cluster.settings)) == 2


def test_a_redis_restart_during_a_batch_loses_nothing(cluster: Cluster, tmp_path: Path) -> None:
    names = ["jfk.flac", "fleurs-en-000.ogg", "fleurs-en-002.ogg", "i_tell_you.wav"]
    job_ids = [
        submit(cluster, variant(DATA / name, tmp_path / f"{i}-{name}.wav", 0.8))
        for i, name in enumerate(names)
    ]
    wait_for(lambda: (j := cluster.job(job_ids[0])) and j.status == "running", 120, "a job to run")
    # Killed outright: the append-only file (fsync always) keeps every message.
    cluster.redis.stop(signal.SIGKILL)
    cluster.redis.start()
    jobs = cluster.wait_jobs(job_ids, 300)
    assert [j.status for j in jobs] == ["done"] * len(names), [j.error for j in jobs]
    started = starts(cluster)
    assert [started.get(j) for j in job_ids] == [1] * len(names)
    for job in jobs:
        assert_one_set_of_results(cluster, job.call_id)

    # A Redis that comes back empty (its data lost): the sweeper sends the jobs that PostgreSQL
    # holds as queued again, and each still runs once.
    more = [
        submit(cluster, variant(DATA / name, tmp_path / f"lost-{i}-{name}.wav", 0.75))
        for i, name in enumerate(names[1:])
    ]
    wait_for(lambda: (j := cluster.job(more[0])) and j.status == "running", 120, "a job to run")
    cluster.redis.stop(signal.SIGKILL)
    shutil.rmtree(cluster.redis.folder / "appendonlydir", ignore_errors=True)
    cluster.redis.start()
    jobs = cluster.wait_jobs(more, 300)
    assert [j.status for j in jobs] == ["done"] * len(more), [j.error for j in jobs]
    started = starts(cluster)
    assert [started.get(j) for j in more] == [1] * len(more)
    for job in jobs:
        assert_one_set_of_results(cluster, job.call_id)


def test_a_task_for_a_deleted_call_ends_cleanly(cluster: Cluster, tmp_path: Path) -> None:
    tracebacks = cluster.logs().count("Traceback")
    # Deleted before a worker got to it.
    entry = register(cluster.db, cluster.settings, "alice", DATA / "stereo_diarization.wav")
    with cluster.db.session() as session:
        call_store.delete_call(session, session.get(Call, entry.call_id))
    CeleryQueue(cluster.settings, cluster.db).send(entry.job_id)
    wait_for(
        lambda: f"job {entry.job_id}: nothing to do, its call was deleted" in cluster.logs(),
        60,
        "the worker to skip the deleted call's job",
    )
    # Deleted while it runs: the results are dropped, nothing is left behind.
    path = variant(DATA / "multilingual.mp3", tmp_path / "long2.wav", 0.7)
    job_id = submit(cluster, path)
    wait_for(lambda: (j := cluster.job(job_id)) and j.status == "running", 120, "the job to run")
    call_id = cluster.job(job_id).call_id  # type: ignore[union-attr]
    with cluster.db.session() as session:
        call_store.delete_call(session, session.get(Call, call_id))
    wait_for(lambda: re.search(rf"job {job_id}: (gone|done)", cluster.logs()), 180, "job end")
    with cluster.db.session() as session:
        assert session.scalar(select(func.count(Segment.id)).where(Segment.call_id == call_id)) == 0
        assert session.get(Call, call_id) is None
    assert cluster.logs().count("Traceback") == tracebacks
    # The workers carry on.
    after = submit(cluster, variant(DATA / "another_door.wav", tmp_path / "door.wav", 0.6))
    assert cluster.wait_jobs([after], 120)[0].status == "done"


def test_a_message_carries_only_the_job_id_and_limits_scaled_to_the_call(
    cluster: Cluster, tmp_path: Path
) -> None:
    # A queue no worker listens on keeps the message where it can be read.
    idle = cluster.settings.model_copy(update={"broker_queue": "idle-test"})
    entry = register(cluster.db, idle, "alice", DATA / "fleurs-de-001.ogg")
    CeleryQueue(idle, cluster.db).send(entry.job_id)
    import redis

    client = redis.Redis.from_url(idle.broker_url)
    (raw,) = client.lrange("idle-test", 0, -1)
    message = json.loads(raw)
    assert broker_contents(idle, client).waiting == [entry.job_id]
    limits = time_limits(idle, entry.duration_s)
    assert message["headers"]["timelimit"] == [limits.hard_s, limits.soft_s]
    assert message["headers"]["argsrepr"] == f"[{entry.job_id}]"
    assert len(raw) < 4000  # ids and headers only: no audio, no transcript
    assert entry.duration_s is not None
    longer = time_limits(idle, entry.duration_s * 10)
    assert longer.soft_s > limits.soft_s and longer.hard_s > longer.soft_s
    client.delete("idle-test")
    with cluster.db.session() as session:
        call_store.delete_call(session, session.get(Call, entry.call_id))


def test_a_local_batch_stores_the_same_results_as_the_cluster(
    cluster: Cluster, tmp_path: Path
) -> None:
    names = ["jfk.flac", "another_door.wav"]
    folder = tmp_path / "recordings"
    folder.mkdir()
    for name in names:
        shutil.copy(DATA / name, folder / name)
    enqueued = cluster.cli("batch", str(folder), "--enqueue", "--rep", "alice")
    assert enqueued.returncode == 0, enqueued.stderr
    # The same folder analysed locally, into another (SQLite) database of another data folder.
    url = f"sqlite:///{tmp_path / 'local.db'}"
    env = {
        **cluster.env,
        "ASSISTANT_QUEUE": "embedded",
        "ASSISTANT_DATABASE_URL": url,
        "ASSISTANT_DATA_DIR": str(tmp_path / "local-data"),
    }
    local = subprocess.run(
        [str(BIN / "assistant"), "batch", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert local.returncode == 0, local.stderr
    assert (folder / "reports" / "jfk.flac.json").is_file()
    local_db = Database(url)
    try:
        for name in names:
            here, there = results(local_db, name), results(cluster.db, name)
            assert here == there and here["status"] == "done"
            assert here["segments"], name
    finally:
        local_db.dispose()


def results(db: Database, filename: str) -> dict:
    """What the web app shows of a call: its status, segments and items."""
    with db.session() as session:
        call = session.scalar(select(Call).where(Call.filename == filename))
        assert call is not None, filename
        segments = session.scalars(
            select(Segment).where(Segment.call_id == call.id).order_by(Segment.position)
        ).all()
        items = session.scalars(
            select(Item).where(Item.call_id == call.id).order_by(Item.position)
        ).all()
        return {
            "status": call.status,
            "language": call.language,
            "segments": [(s.text, s.start_s, s.end_s, s.speaker) for s in segments],
            "items": [(i.kind, i.quote, i.start_s, i.owner, i.due) for i in items],
        }


def test_a_job_past_its_soft_time_limit_fails_and_is_not_retried(
    cluster: Cluster, tmp_path: Path
) -> None:
    # Limits are set by the sender, from the call's duration: here 1 s + 0.01 s per audio second.
    strict = cluster.settings.model_copy(
        update={"job_time_base_s": 1.0, "job_time_per_audio_s": 0.01}
    )
    path = variant(DATA / "multilingual.mp3", tmp_path / "strict.wav", 0.55)
    entry = register(cluster.db, strict, "alice", path)
    CeleryQueue(strict, cluster.db).send(entry.job_id)
    (job,) = cluster.wait_jobs([entry.job_id], 180)
    assert job.status == "failed" and job.attempts == 1
    assert "time limit of 2 s" in (job.error or "")
    assert "ASSISTANT_JOB_TIME_PER_AUDIO_S" in (job.error or "")
    with cluster.db.session() as session:
        call = session.get(Call, entry.call_id)
        assert call is not None and call.status == "failed" and call.error == job.error


def test_the_api_with_the_celery_queue_hands_uploads_to_the_workers(
    cluster: Cluster, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from assistant.store.tables import User
    from assistant.store.users import issue_token

    with cluster.db.session() as session:
        alice = session.scalar(select(User).where(User.name == "alice"))
        token = issue_token(session, alice)
    app = create_app(cluster.settings, db=cluster.db)
    assert isinstance(app.state.queue, CeleryQueue)
    path = variant(DATA / "testing_routine.wav", tmp_path / "upload.wav", 0.85)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client, open(path, "rb") as fh:
        response = client.post(
            "/api/calls", headers=headers, files={"file": (path.name, fh)}, data={"title": "t"}
        )
        assert response.status_code == 202, response.text
        body = response.json()
        (job,) = cluster.wait_jobs([body["job"]["id"]], 180)
        assert job.status == "done"
        call = client.get(f"/api/calls/{body['call']['id']}", headers=headers).json()
    assert call["status"] == "done" and call["report"]["source"]["path"] == "upload.wav"
    assert "routine" in " ".join(s["text"] for s in call["segments"]).lower()


def test_a_job_past_its_hard_time_limit_is_stopped_and_fails(
    cluster: Cluster, tmp_path: Path
) -> None:
    # No soft limit this time: the process running the job is killed after 3 s.
    path = variant(DATA / "multilingual.mp3", tmp_path / "hard.wav", 0.45)
    entry = register(cluster.db, cluster.settings, "alice", path)
    celery = CeleryQueue(cluster.settings, cluster.db)
    celery.app.send_task(
        TASK_NAME, args=[entry.job_id], queue=cluster.settings.broker_queue, time_limit=3
    )
    (job,) = cluster.wait_jobs([entry.job_id], 180)
    assert job.status == "failed" and job.attempts == 1
    assert "hard time limit of 3 s" in (job.error or "")
    # The worker replaced the killed process and goes on.
    after = submit(cluster, variant(DATA / "i_tell_you.wav", tmp_path / "after.wav", 0.6))
    assert cluster.wait_jobs([after], 300)[0].status == "done"


def test_a_recording_that_is_not_media_fails_at_once(cluster: Cluster, tmp_path: Path) -> None:
    # Registered as a good recording, then the stored file turns out to hold no audio.
    path = variant(DATA / "another_engineer.wav", tmp_path / "soon-broken.wav", 0.5)
    entry = register(cluster.db, cluster.settings, "alice", path)
    with cluster.db.session() as session:
        sha256 = session.get(Call, entry.call_id).sha256  # type: ignore[union-attr]
    call_store.recording_path(cluster.settings.recordings_dir, sha256).write_bytes(b"x" * 4096)
    CeleryQueue(cluster.settings, cluster.db).send(entry.job_id)
    (job,) = cluster.wait_jobs([entry.job_id], 120)
    assert job.status == "failed" and job.attempts == 1
    assert "not an audio or video file" in (job.error or "")
    assert f"job {entry.job_id}: retrying" not in cluster.logs()
