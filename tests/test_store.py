"""The store on real databases: migrations match the models, run twice safely, and the full-text
search treats any input as words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from assistant.errors import OptionError
from assistant.store import Database
from assistant.store.calls import recording_path
from assistant.store.models import Base
from assistant.store.search import fts5_query, ts_query
from tests.api.conftest import make_database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url, cleanup = make_database_url(request.param, tmp_path)
    database = Database(url)
    yield database
    database.dispose()
    cleanup()  # type: ignore[operator]


def test_migrations_create_every_table_and_match_the_models(db: Database) -> None:
    db.migrate()
    db.migrate()  # a second start changes nothing
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        diff = compare_metadata(context, Base.metadata)
    # only the search structures are outside the models
    assert [d for d in diff if "fts" not in str(d)] == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_bad_database_urls_say_what_to_use() -> None:
    with pytest.raises(OptionError, match="postgresql"):
        Database("not a url")
    with pytest.raises(OptionError, match="sqlite or postgresql"):
        Database("mysql://u:p@localhost/db")


def test_recordings_are_named_by_hash_only(tmp_path: Path) -> None:
    sha = "ab" + "0" * 62
    assert recording_path(tmp_path, sha) == tmp_path / "ab" / sha
    for bad in ("../../etc/passwd", "AB" + "0" * 62, "ab"):
        with pytest.raises(OptionError):
            recording_path(tmp_path, bad)


@pytest.mark.parametrize(
    ("text", "fts5", "ts"),
    [
        ("salesforce integration", '"salesforce" "integration"', "salesforce & integration"),
        ("Preis*", '"Preis"*', "preis:*"),
        ('"; DROP TABLE calls; --', '"DROP" "TABLE" "calls"', "drop & table & calls"),
        ("NEAR(a b) OR c", '"NEAR" "a" "b" "OR" "c"', "near & a & b & or & c"),
        ("***", "", ""),
    ],
)
def test_search_input_is_only_words(text: str, fts5: str, ts: str) -> None:
    assert fts5_query(text) == fts5
    assert ts_query(text) == ts
