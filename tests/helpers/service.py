"""The service for the API tests: a real database (SQLite, and PostgreSQL when
``ASSISTANT_TEST_DATABASE_URL`` names one), the real app, real users with real tokens, and an
in-process worker that runs the real pipeline with the bundled ``tiny.en`` model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from assistant.jobs.worker import Worker
from assistant.settings import Settings
from assistant.store import Database
from assistant.store.db import scratch_postgres_database
from assistant.store.users import create_user, issue_token

PG_ENV = "ASSISTANT_TEST_DATABASE_URL"

BACKENDS = ["sqlite", "postgresql"]


def _pg_url() -> str | None:
    import os

    return os.environ.get(PG_ENV) or None


def make_database_url(backend: str, tmp: Path) -> tuple[str, object]:
    """A fresh, empty database; returns its URL and a cleanup callable."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'assistant.db'}", lambda: None
    base = _pg_url()
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (set by `make test`)")
    return scratch_postgres_database(base, "assistant_test")


@dataclass
class Service:
    """One running app with its users; ``h(name)`` gives that user's auth header."""

    settings: Settings
    db: Database
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    worker: Worker | None = None

    def h(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def upload(self, user: str, path: Path, **fields: str):  # type: ignore[no-untyped-def]
        with open(path, "rb") as fh:
            return self.client.post(
                "/api/calls", headers=self.h(user), files={"file": (path.name, fh)}, data=fields
            )

    def run_jobs(self) -> int:
        assert self.worker is not None
        n = 0
        while self.worker.run_once():
            n += 1
        return n

    def files(self) -> list[Path]:
        """Every file under the data directory except the database and model caches."""
        root = self.settings.data_dir
        return sorted(
            p
            for p in root.rglob("*")
            if p.is_file() and not p.name.startswith("assistant.db") and "cache" not in p.parts
        )


def make_settings(tmp: Path, url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp,
        "database_url": url,
        "model": "tiny.en",
        "language": "en",
        "cpu_threads": 2,
        "job_poll_s": 0.1,
        "job_heartbeat_s": 0.5,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


# rep alice and rep bob are in team east with manager mia; rep carol is in team west.
PEOPLE = [
    ("ada", "admin", None),
    ("mia", "manager", "east"),
    ("wes", "manager", "west"),
    ("alice", "rep", "east"),
    ("bob", "rep", "east"),
    ("carol", "rep", "west"),
]


def start_service(backend: str, tmp: Path, **overrides: object) -> Iterator[Service]:
    url, cleanup = make_database_url(backend, tmp)
    settings = make_settings(tmp, url, **overrides)
    db = Database(url)
    app = create_app(settings, db=db)
    try:
        with TestClient(app) as client:
            service = Service(settings, db, client, worker=Worker(db, settings, "test:1:0"))
            with db.session() as session:
                for name, role, team in PEOPLE:
                    service.tokens[name] = issue_token(
                        session, create_user(session, name, role, team)
                    )
            yield service
    finally:
        db.dispose()
        cleanup()  # type: ignore[operator]
