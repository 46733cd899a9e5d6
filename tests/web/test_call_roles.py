"""The call page says "roles uncertain" while the rep is the text heuristic's unsure guess, through
the real app and a real database (a stored report, no models)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.diarize import Diarization
from assistant.diarize.roles import assign_roles
from assistant.report import CallReport, Provenance, Segment, Source
from tests.helpers import app_with_reports

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
    with app_with_reports(tmp_path, {"meeting": report(MEETING), "sale": report(SALE)}) as app:
        yield app


def test_call_page_says_roles_uncertain_until_a_person_sets_them(app) -> None:
    client, token, ids = app
    meeting = client.get(f"/calls/{ids['meeting']}").text
    assert "Roles uncertain" in meeting
    assert "Roles uncertain" not in client.get(f"/calls/{ids['sale']}").text
    # A person names another rep than the guess: the roles are theirs now, no longer a guess.
    guessed = next(s.id for s in report(MEETING).speakers if s.role == "rep")
    other = next(label for label, _ in MEETING if label != guessed)
    body = {"speakers": [{"label": guessed, "role": "customer"}, {"label": other, "role": "rep"}]}
    headers = {"Authorization": f"Bearer {token}"}
    changed = client.patch(f"/api/calls/{ids['meeting']}/speakers", json=body, headers=headers)
    assert changed.status_code == 200, changed.text
    assert "Roles uncertain" not in client.get(f"/calls/{ids['meeting']}").text
