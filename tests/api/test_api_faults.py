"""Faults, with the real server: ``assistant serve`` in a subprocess, its real worker process.

Kill the worker in the middle of a job: the supervisor starts a new one, the job runs again and
the call ends with exactly one set of results. Stop and start the server: nothing is lost, and a
job that was running when it stopped finishes after the start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from assistant.store import Database
from assistant.store.tables import Item, Job, Segment
from assistant.store.users import create_user, issue_token
from tests.helpers import DATA, free_port
from tests.helpers.service import make_database_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@dataclass
class Server:
    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"server did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Server, Database, str]]:
    url, cleanup = make_database_url(request.param, tmp_path)
    db = Database(url)
    db.migrate()
    with db.session() as session:
        token = issue_token(session, create_user(session, "alice", "rep"))
    env = {
        **os.environ,
        "ASSISTANT_DATA_DIR": str(tmp_path),
        "ASSISTANT_DATABASE_URL": url,
        "ASSISTANT_MODEL": "tiny.en",
        "ASSISTANT_LANGUAGE": "en",
        "ASSISTANT_WORKERS": "1",
        "ASSISTANT_JOB_POLL_S": "0.2",
        "ASSISTANT_JOB_HEARTBEAT_S": "1",
        "PYTHONPATH": str(ROOT),
    }
    srv = Server(env, free_port(), tmp_path / "server.log")
    srv.start()
    try:
        yield srv, db, token
    finally:
        srv.stop()
        db.dispose()
        cleanup()  # type: ignore[operator]


def wait_for(predicate, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def job_of(srv: Server, token: str, job_id: int) -> dict:  # type: ignore[type-arg]
    # A busy machine (the worker loading its models on both cores) can hold an answer for
    # seconds; the deadlines of the callers bound the test.
    r = httpx.get(
        f"{srv.url}/api/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return r.json()  # type: ignore[no-any-return]


def upload(srv: Server, token: str, path: Path) -> dict:  # type: ignore[type-arg]
    with open(path, "rb") as fh:
        r = httpx.post(
            f"{srv.url}/api/calls",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": (path.name, fh)},
            timeout=60,
        )
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


def one_set_of_results(db: Database, call_id: int) -> int:
    with db.session() as session:
        positions = session.scalars(
            select(Segment.position).where(Segment.call_id == call_id)
        ).all()
        items = session.scalars(select(Item.position).where(Item.call_id == call_id)).all()
    assert positions, "no segments stored"
    assert len(positions) == len(set(positions)), "segments stored twice"
    assert len(items) == len(set(items)), "items stored twice"
    return len(positions)


def test_killed_worker_job_finishes_after_restart(server: tuple[Server, Database, str]) -> None:
    srv, db, token = server
    accepted = upload(srv, token, DATA / "multilingual.mp3")
    job_id = accepted["job"]["id"]
    running = wait_for(
        lambda: (
            (j := job_of(srv, token, job_id))["status"] == "running"
            and j["stage"] == "transcribe"
            and j
        ),
        120,
        "the job to be transcribing",
    )
    assert running["attempts"] == 1
    with db.session() as session:
        worker = session.scalar(select(Job.worker).where(Job.id == job_id))
    assert worker is not None
    pid = int(worker.split(":")[1])
    os.kill(pid, signal.SIGKILL)
    done = wait_for(
        lambda: (j := job_of(srv, token, job_id))["status"] in ("done", "failed") and j,
        300,
        "the job to finish after the worker was killed",
    )
    assert done["status"] == "done", done
    assert done["attempts"] == 2
    n = one_set_of_results(db, accepted["call"]["id"])
    call = httpx.get(
        f"{srv.url}/api/calls/{accepted['call']['id']}",
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert len(call["segments"]) == n == len(call["report"]["segments"])
    assert "restarting" in srv.log.read_text()


def test_server_restart_loses_nothing(server: tuple[Server, Database, str]) -> None:
    srv, db, token = server
    first = upload(srv, token, DATA / "jfk.flac")
    wait_for(
        lambda: job_of(srv, token, first["job"]["id"])["status"] == "done", 120, "the first job"
    )
    second = upload(srv, token, DATA / "multilingual.mp3")
    wait_for(
        lambda: job_of(srv, token, second["job"]["id"])["stage"] == "transcribe",
        120,
        "the second job to be transcribing",
    )
    srv.stop()  # in the middle of the second job
    with db.session() as session:
        assert session.scalar(select(func.count(Job.id)).where(Job.status == "done")) == 1
    srv.start()
    headers = {"Authorization": f"Bearer {token}"}
    done = wait_for(
        lambda: (
            (j := job_of(srv, token, second["job"]["id"]))["status"] in ("done", "failed") and j
        ),
        300,
        "the interrupted job to finish after the restart",
    )
    assert done["status"] == "done", done
    calls = httpx.get(f"{srv.url}/api/calls", headers=headers).json()
    assert calls["count"] == 2 and {c["status"] for c in calls["data"]} == {"done"}
    one_set_of_results(db, first["call"]["id"])
    one_set_of_results(db, second["call"]["id"])
    audio = httpx.get(f"{srv.url}/api/calls/{first['call']['id']}/audio", headers=headers)
    assert audio.content == (DATA / "jfk.flac").read_bytes()


def test_first_start_prints_a_one_time_login_link(server: tuple[Server, Database, str]) -> None:
    srv, _, _ = server
    log = srv.log.read_text()
    assert "An admin user was created" in log
    link = next(w for w in log.split() if "/api/auth/login?token=" in w)
    assert link.startswith(srv.url)
    with httpx.Client() as browser:
        first = browser.get(link)
        assert first.status_code == 303 and first.headers["location"] == "/"
        me = browser.get(f"{srv.url}/api/users/me")
        assert me.status_code == 200 and me.json()["role"] == "admin"
        again = httpx.get(link)
        assert again.status_code == 401
    srv.stop()
    srv.start()  # a second start creates no second admin and prints no new link
    assert srv.log.read_text().count("An admin user was created") == 1
