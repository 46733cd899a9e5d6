"""The call page names the languages of a call spoken in several (a German rep, an English
customer), through the real app and a real database (a stored report, no models)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.helpers import app_with_reports
from tests.helpers import spoken_call as call

CALLS = {
    "mixed": [("de", 30.0), ("en", 10.0), ("de", 50.0), ("en", 10.0)],
    "german": [("de", 60.0), ("en", 1.0)],
}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, int]]]:
    with app_with_reports(tmp_path, {name: call(parts) for name, parts in CALLS.items()}) as (
        client,
        _,
        ids,
    ):
        yield client, ids


def test_call_page_names_the_languages_of_a_mixed_call(app) -> None:
    client, ids = app
    mixed = client.get(f"/calls/{ids['mixed']}").text
    assert re.search(r"Languages <strong>German 80 %, English 20 %</strong>", mixed)
    german = client.get(f"/calls/{ids['german']}").text
    assert "Languages" not in german and "Language de" in german
