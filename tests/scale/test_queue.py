"""The pieces under the Celery queue, on a real SQLite database and without workers: claiming a
delivered job, stale jobs, time limits, reading broker messages, and the CLI's errors."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.errors import OptionError
from assistant.jobs import get_queue, queue
from assistant.jobs.celery_queue import (
    BrokerError,
    CeleryQueue,
    _job_id,
    time_limits,
    visibility_timeout_s,
)
from assistant.jobs.intake import register
from assistant.settings import Settings
from assistant.store import Database
from assistant.store import calls as call_store
from assistant.store.tables import Call, Job, utcnow
from assistant.store.users import create_user
from tests.helpers import DATA, free_port

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> tuple[Settings, Database]:
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    settings = Settings(data_dir=tmp_path, database_url=url)
    db = Database(url)
    db.migrate()
    with db.session() as session:
        create_user(session, "alice", "rep")
    yield settings, db
    db.dispose()


def test_claiming_a_delivered_job_happens_once(env: tuple[Settings, Database]) -> None:
    settings, db = env
    entry = register(db, settings, "alice", DATA / "jfk.flac")
    assert entry.created and entry.status == "queued" and 10.5 < entry.duration_s < 11.5
    assert queue.claim_job(db, entry.job_id, "a") == "claimed"
    assert queue.claim_job(db, entry.job_id, "b") == "running"
    with db.session() as session:
        job = session.get(Job, entry.job_id)
        assert job.worker == "a" and job.attempts == 1
        assert session.get(Call, entry.call_id).status == "processing"
        job.status = "done"
    assert queue.claim_job(db, entry.job_id, "b") == "done"
    assert queue.claim_job(db, 10_000, "b") == "gone"


def test_a_job_waiting_for_its_retry_is_not_claimed_early(env: tuple[Settings, Database]) -> None:
    settings, db = env
    entry = register(db, settings, "alice", DATA / "i_tell_you.wav")
    with db.session() as session:
        session.get(Job, entry.job_id).run_after = utcnow() + timedelta(seconds=60)
    assert queue.claim_job(db, entry.job_id, "a") == "later"


def test_stale_jobs_come_back_with_their_ids(env: tuple[Settings, Database]) -> None:
    settings, db = env
    first = register(db, settings, "alice", DATA / "jfk.flac")
    second = register(db, settings, "alice", DATA / "i_tell_you.wav")
    for entry in (first, second):
        assert queue.claim_job(db, entry.job_id, "gone-worker") == "claimed"
    with db.session() as session:
        session.get(Job, first.job_id).heartbeat_at = utcnow() - timedelta(seconds=120)
    assert queue.requeue_stale_jobs(db, 60) == [first.job_id]
    assert queue.claim_job(db, first.job_id, "b") == "claimed"
    assert queue.claim_job(db, second.job_id, "b") == "running"


def test_registering_again_skips_done_and_retries_failed(env: tuple[Settings, Database]) -> None:
    settings, db = env
    entry = register(db, settings, "alice", DATA / "jfk.flac")
    stored = call_store.recording_path(settings.recordings_dir, _sha(entry.call_id, db))
    assert stored.read_bytes() == (DATA / "jfk.flac").read_bytes()
    with db.session() as session:
        session.get(Job, entry.job_id).status = "failed"
    retry = register(db, settings, "alice", DATA / "jfk.flac")
    assert retry.created and retry.job_id != entry.job_id and retry.call_id == entry.call_id
    with db.session() as session:
        session.get(Job, retry.job_id).status = "done"
    again = register(db, settings, "alice", DATA / "jfk.flac")
    assert not again.created and again.job_id == retry.job_id and again.status == "done"


def _sha(call_id: int, db: Database) -> str:
    with db.session() as session:
        return session.get(Call, call_id).sha256


def test_time_limits_grow_with_the_call_and_stay_under_the_visibility_timeout() -> None:
    settings = Settings(job_time_base_s=100, job_time_per_audio_s=2, max_duration_s=3600)
    short, long = time_limits(settings, 60), time_limits(settings, 1800)
    assert (short.soft_s, long.soft_s) == (220, 3700)
    assert short.hard_s > short.soft_s and long.hard_s > long.soft_s
    assert time_limits(settings, None) == time_limits(settings, 3600)
    assert visibility_timeout_s(settings) > time_limits(settings, 3600).hard_s + 600


def test_a_broker_message_is_read_back_to_its_job_id() -> None:
    body = base64.b64encode(json.dumps([[42], {}, {}]).encode()).decode()
    message = {"body": body, "properties": {"body_encoding": "base64"}, "headers": {}}
    assert _job_id(json.dumps(message)) == 42
    assert _job_id(json.dumps([message, "assistant", "assistant"])) == 42
    assert _job_id(b"not json") is None


def test_unknown_queue_and_bad_broker_url_fail_clearly() -> None:
    with pytest.raises(OptionError, match="expected one of: embedded, celery"):
        get_queue("rabbit")
    with pytest.raises(OptionError, match="not a Redis URL"):
        CeleryQueue(Settings(broker_url="amqp://localhost"))


def test_a_broker_that_is_down_never_fails_an_upload(env: tuple[Settings, Database]) -> None:
    settings, db = env
    down = settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{free_port()}/0"})
    entry = register(db, down, "alice", DATA / "jfk.flac")
    celery = CeleryQueue(down, db)
    with pytest.raises(BrokerError, match="start Redis"):
        celery.send(entry.job_id)
    celery.submit(entry.job_id)  # logged; the sweeper sends it when Redis is back
    with db.session() as session:
        assert session.get(Job, entry.job_id).status == "queued"


def test_cli_errors_are_one_line(env: tuple[Settings, Database], monkeypatch) -> None:
    settings, _ = env
    monkeypatch.setenv("ASSISTANT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ASSISTANT_BROKER_URL", f"redis://127.0.0.1:{free_port()}/0")
    from assistant.settings import get_settings

    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["status", "--queue", "rabbit"])
        assert result.exit_code == 2 and "Unknown queue 'rabbit'" in result.output
        result = runner.invoke(app, ["worker"])
        assert result.exit_code == 2 and "does not answer" in result.output
        result = runner.invoke(app, ["status", "--queue", "celery"])
        assert result.exit_code == 2 and "start redis-server" in result.output
        result = runner.invoke(app, ["batch", str(DATA), "--enqueue", "--rep", "nobody"])
        assert result.exit_code == 2 and "Traceback" not in result.output
        embedded = runner.invoke(app, ["status", "--json", "--queue", "embedded"])
        assert embedded.exit_code == 0, embedded.output
        assert json.loads(embedded.output)["jobs"]["queued"] == 0
    finally:
        get_settings.cache_clear()


SECRET = "s3cret-Pa55"


def test_broker_passwords_stay_out_of_errors(env: tuple[Settings, Database]) -> None:
    settings, db = env
    down = settings.model_copy(
        update={"broker_url": f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"}
    )
    entry = register(db, down, "alice", DATA / "jfk.flac")
    with pytest.raises(BrokerError, match="start Redis") as sent:
        CeleryQueue(down, db).send(entry.job_id)
    assert SECRET not in str(sent.value) and "redis://:***@127.0.0.1" in str(sent.value)
    with pytest.raises(BrokerError, match="does not answer") as pinged:
        CeleryQueue(down, db).check()
    assert SECRET not in str(pinged.value)
    with pytest.raises(OptionError, match="not a Redis URL") as wrong:
        CeleryQueue(Settings(broker_url=f"amqp://guest:{SECRET}@rabbit:5672//"))
    assert SECRET not in str(wrong.value) and "amqp://guest:***@rabbit" in str(wrong.value)


def test_status_shows_the_broker_without_its_password(
    env: tuple[Settings, Database], monkeypatch
) -> None:
    settings, _ = env
    monkeypatch.setenv("ASSISTANT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("ASSISTANT_BROKER_URL", f"redis://worker:{SECRET}@127.0.0.1:{free_port()}/0")
    from assistant.jobs import celery_queue, status
    from assistant.settings import get_settings

    get_settings.cache_clear()
    try:
        down = runner.invoke(app, ["status", "--queue", "celery"])
        assert down.exit_code == 2 and "does not answer" in down.output
        assert SECRET not in down.output and "redis://worker:***@127.0.0.1" in down.output
        # A broker that answers (the Redis client is the seam replaced here).
        monkeypatch.setattr(celery_queue, "broker_client", lambda settings: object())
        monkeypatch.setattr(
            celery_queue,
            "broker_contents",
            lambda settings, client: celery_queue.BrokerContents([1, 2], [3]),
        )
        monkeypatch.setattr(status, "alive_workers", lambda settings, timeout_s: ["w1@host"])
        for args in (["status", "--queue", "celery"], ["status", "--json", "--queue", "celery"]):
            shown = runner.invoke(app, args)
            assert shown.exit_code == 0, shown.output
            assert "2 waiting" in shown.output or '"waiting": 2' in shown.output
            assert SECRET not in shown.output and "worker:***@127.0.0.1" in shown.output
    finally:
        get_settings.cache_clear()
