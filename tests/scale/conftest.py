"""Fixtures for the scale-out tests (``tests.helpers.cluster``): one real cluster per session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from assistant.settings import Settings
from assistant.store import Database
from tests.helpers.cluster import REDIS, Cluster, RedisServer, wait_for
from tests.helpers.service import PG_ENV, make_database_url


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if REDIS is None:
        pytest.skip("the scale-out tests need redis-server (installed by `make test`)")
    if not os.environ.get(PG_ENV):
        pytest.skip(f"the scale-out tests need PostgreSQL: set {PG_ENV} (`make test` does)")
    tmp = tmp_path_factory.mktemp("cluster")
    data_dir = tmp / "shared"
    redis_dir = tmp / "redis"
    redis_dir.mkdir()
    server = RedisServer(redis_dir)
    server.start()
    url, drop = make_database_url("postgresql", tmp)
    values = {
        "data_dir": str(data_dir),
        "database_url": url,
        "queue": "celery",
        "broker_url": server.url,
        "model": "tiny.en",
        "language": "en",
        "cpu_threads": "1",
        "job_heartbeat_s": "0.5",
        "job_stale_after_s": "4",
        "sweep_every_s": "1",
        "resend_after_s": "6",
    }
    env = {**os.environ, **{f"ASSISTANT_{k.upper()}": v for k, v in values.items()}}
    settings = Settings(**values)  # type: ignore[arg-type]
    db = Database(url)
    db.migrate()
    cluster = Cluster(settings, db, server, env, tmp)
    try:
        from assistant.store.users import create_user

        with db.session() as session:
            create_user(session, "alice", "rep", "east")
        for name in ("w1", "w2"):
            cluster.start_worker(name)
        from assistant.jobs.status import alive_workers

        wait_for(lambda: len(alive_workers(settings)) == 2, 120, "two workers to answer a ping")
        yield cluster
    finally:
        cluster.stop_workers()
        server.stop()
        db.dispose()
        drop()  # type: ignore[operator]
