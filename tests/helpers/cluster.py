"""A real cluster for the scale-out tests: a ``redis-server`` on a free port (append-only file,
fsync on every write, as docs/deployment.md asks), a fresh PostgreSQL database from
``ASSISTANT_TEST_DATABASE_URL``, and two ``assistant worker`` processes (one Celery process each)
running the real pipeline with the bundled ``tiny.en`` model on a shared data directory."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select

from assistant.settings import Settings
from assistant.store import Database
from assistant.store.tables import Job
from tests.helpers import free_port, write_wav

BIN = Path(sys.executable).parent
REDIS = shutil.which("redis-server")


def wait_for(check: Callable[[], object], timeout_s: float, what: str, every_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


class RedisServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS is not None
        self.proc = subprocess.Popen(
            [
                REDIS,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--logfile",
                str(self.folder / "redis.log"),
            ]
        )
        import redis

        client = redis.Redis(port=self.port)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_for(up, 20, "redis-server to answer")
        client.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)
        self.proc = None


@dataclass
class Cluster:
    settings: Settings
    db: Database
    redis: RedisServer
    env: dict[str, str]
    tmp: Path
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_worker(self, name: str) -> None:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        self.workers[name] = subprocess.Popen(
            [str(BIN / "assistant"), "worker", "--concurrency", "1", "--name", f"{name}@test"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop_workers(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def logs(self) -> str:
        return "\n".join(
            (self.tmp / f"{name}.log").read_text(errors="replace") for name in self.workers
        )

    def cli(self, *args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "assistant"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )

    def job(self, job_id: int) -> Job | None:
        with self.db.session() as session:
            return session.get(Job, job_id)

    def wait_jobs(self, job_ids: list[int], timeout_s: float = 300) -> list[Job]:
        def ended() -> list[Job] | None:
            with self.db.session() as session:
                jobs = session.scalars(select(Job).where(Job.id.in_(job_ids))).all()
            if len(jobs) == len(job_ids) and all(j.status in ("done", "failed") for j in jobs):
                return list(jobs)
            return None

        return wait_for(ended, timeout_s, f"jobs {job_ids} to end", every_s=0.5)


def variant(source: Path, target: Path, gain: float) -> Path:
    """The clip at another gain: new content (a new sha256), same speech."""
    from assistant.media import MediaOptions, load_audio

    audio = load_audio(source, MediaOptions()).mono
    return write_wav(target, np.clip(audio * gain, -1, 1))
