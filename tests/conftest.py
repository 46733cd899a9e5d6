"""Shared fixtures: real clips in tests/data, one data directory per test session, and an empty
database of each kind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.store import Database
from tests.helpers.service import make_database_url

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session", autouse=True)
def assistant_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test (and CLI subprocess) writes under one temporary data directory; model caches
    made there (the joined ``base`` weights) are shared by the whole session."""
    path = tmp_path_factory.mktemp("assistant-data")
    os.environ["ASSISTANT_DATA_DIR"] = str(path)
    from assistant.settings import get_settings

    get_settings.cache_clear()
    return path


@pytest.fixture(scope="session")
def data() -> Path:
    return DATA


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A new, unmigrated database: SQLite, and PostgreSQL where one is configured."""
    url, cleanup = make_database_url(request.param, tmp_path)
    database = Database(url)
    yield database
    database.dispose()
    cleanup()  # type: ignore[operator]
