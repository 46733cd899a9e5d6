"""The call page says "roles uncertain" while the rep is the text heuristic's unsure guess, through
the real app and a real database (a stored report, no models)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from assistant.diarize import Diarization
from assistant.diarize.roles import assign_roles
from assistant.report import CallReport, Provenance, Segment, Source
from assistant.settings import Settings
from assistant.store import Database
from assistant.store import calls as store
from assistant.store.users import create_user, issue_token

# Four people planning a product: nobody sells, so nobody is surely the rep.
MEETING = [
    ("A", "Okay, so the remote control should be simple to use."),
    ("B", "Yeah, I think fewer buttons would help."),
    ("C", "What about the colour? I would keep it grey."),
    ("D", "Grey is fine. Let's decide the shape next time."),
]
# A rep who sells and a customer who pushes back: the rep is clear.
SALE = [
    ("S1", "Thanks for your time, let me show you our platform. We offer a free trial."),
    ("S2", "We need it to work with Salesforce, and honestly it is too expensive for us."),
    ("S1", "Understood. I will send you a revised proposal by Friday, so you can compare."),
]


def report(lines: list[tuple[str, str]]) -> CallReport:
    segments = [
        Segment(id=i, start_s=3.0 * i, end_s=3.0 * i + 2.5, text=text, speaker=who)
        for i, (who, text) in enumerate(lines)
    ]
    speakers = assign_roles(segments, Diarization(turns=[], method="none"), [])
    segments = [s.model_copy(update={"role": speakers[s.speaker or ""].role}) for s in segments]
    return CallReport(
        source=Source(path="call.jsonl", sha256="0" * 64, kind="transcript", duration_s=12.0),
        provenance=Provenance(
            engine="transcript", model="", pipeline_version="test", created_at=datetime.now(UTC)
        ),
        segments=segments,
        speakers=list(speakers.values()),
    )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, str, dict[str, int]]]:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'a.db'}")
    db = Database(settings.resolved_database_url)
    db.migrate()
    ids = {}
    with db.session() as session:
        alice = create_user(session, "alice", "rep", "east")
        token = issue_token(session, alice)
        for name, lines in (("meeting", MEETING), ("sale", SALE)):
            new = store.NewCall(
                sha256=hashlib.sha256(name.encode()).hexdigest(),
                filename=f"{name}.jsonl",
                size_bytes=100,
                media_format="jsonl",
                media_kind="transcript",
                duration_s=12.0,
                title=name,
            )
            call, _, _ = store.create_call(session, alice, new)
            store.save_report(session, call, report(lines))
            ids[name] = call.id
    try:
        with TestClient(create_app(settings, db=db)) as client:
            form = client.get("/login").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert csrf
            client.post("/login", data={"token": token, "csrf_token": csrf.group(1)})
            yield client, token, ids
    finally:
        db.dispose()


def test_call_page_says_roles_uncertain_until_a_person_sets_them(app) -> None:
    client, token, ids = app
    meeting = client.get(f"/calls/{ids['meeting']}").text
    assert "Roles uncertain" in meeting
    assert "Roles uncertain" not in client.get(f"/calls/{ids['sale']}").text
    # A person names the rep: the roles are theirs now, no longer a guess.
    body = {"speakers": [{"label": "A", "role": "customer"}, {"label": "B", "role": "rep"}]}
    headers = {"Authorization": f"Bearer {token}"}
    changed = client.patch(f"/api/calls/{ids['meeting']}/speakers", json=body, headers=headers)
    assert changed.status_code == 200, changed.text
    assert "Roles uncertain" not in client.get(f"/calls/{ids['meeting']}").text
