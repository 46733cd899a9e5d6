"""The call page names the languages of a call spoken in several (a German rep, an English
customer), through the real app and a real database (a stored report, no models)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from assistant.settings import Settings
from assistant.store import Database
from assistant.store import calls as store
from assistant.store.users import create_user, issue_token
from tests.test_formats import call

CALLS = {
    "mixed": [("de", 30.0), ("en", 10.0), ("de", 50.0), ("en", 10.0)],
    "german": [("de", 60.0), ("en", 1.0)],
}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, int]]]:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'a.db'}")
    db = Database(settings.resolved_database_url)
    db.migrate()
    ids = {}
    with db.session() as session:
        alice = create_user(session, "alice", "rep", "east")
        token = issue_token(session, alice)
        for name, parts in CALLS.items():
            new = store.NewCall(
                sha256=hashlib.sha256(name.encode()).hexdigest(),
                filename=f"{name}.wav",
                size_bytes=100,
                media_format="wav",
                media_kind="audio",
                duration_s=100.0,
                title=name,
            )
            created, _, _ = store.create_call(session, alice, new)
            store.save_report(session, created, call(parts))
            ids[name] = created.id
    try:
        with TestClient(create_app(settings, db=db)) as client:
            form = client.get("/login").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert csrf
            client.post("/login", data={"token": token, "csrf_token": csrf.group(1)})
            yield client, ids
    finally:
        db.dispose()


def test_call_page_names_the_languages_of_a_mixed_call(app) -> None:
    client, ids = app
    mixed = client.get(f"/calls/{ids['mixed']}").text
    assert re.search(r"Languages <strong>German 80 %, English 20 %</strong>", mixed)
    german = client.get(f"/calls/{ids['german']}").text
    assert "Languages" not in german and "Language de" in german
