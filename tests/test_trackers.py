"""Keyword trackers: matching, counts per role, moments, and tracker files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import OptionError
from assistant.report import Segment
from assistant.trackers import DEFAULT_TRACKERS, Tracker, load_trackers, match_trackers


def seg(i: int, text: str, role: str | None = None, speaker: str | None = None) -> Segment:
    return Segment(
        id=i, start_s=10.0 * i, end_s=10.0 * i + 5, text=text, role=role, speaker=speaker
    )  # type: ignore[arg-type]


CALL = [
    seg(0, "We looked at Salesforce last year, and HubSpot too.", "customer", "Ana"),
    seg(1, "Our pricing is per seat, with a discount for three years.", "rep", "Ben"),
    seg(2, "Die Preiserhöhung war das Problem, und die Kosten für Lizenzen.", "customer", "Ana"),
    seg(3, "salesforce-like dashboards, sure.", None, None),
    seg(4, "This mentions nothing relevant: salesforces pricingx", "rep", "Ben"),
]


def test_counts_per_role_and_moments() -> None:
    competitors = Tracker("competitors", ("Salesforce", "HubSpot"))
    (result,) = match_trackers(CALL, [competitors])
    assert result["count"] == 3
    assert result["by_role"] == {"rep": 0, "customer": 2, "unknown": 1}
    assert result["by_term"] == {"salesforce": 2, "hubspot": 1}
    moments = result["moments"]
    assert isinstance(moments, list)
    assert [m["segment_id"] for m in moments] == [0, 0, 3]
    assert moments[0]["start_s"] == 0.0 and moments[0]["speaker"] == "Ana"


def test_whole_words_unless_wildcard() -> None:
    (plain,) = match_trackers(CALL, [Tracker("p", ("pricing", "Preis"))])
    assert plain["count"] == 1  # "pricingx" and "Preiserhöhung" are other words
    (wild,) = match_trackers(CALL, [Tracker("p", ("pricing", "Preis*", "Kosten*"))])
    assert wild["count"] == 3


def test_phrases_match_across_whitespace() -> None:
    segs = [seg(0, "we need a   per\nseat model"), seg(1, "per seats")]
    (result,) = match_trackers(segs, [Tracker("p", ("per seat",))])
    assert result["count"] == 1


def test_defaults_cover_english_and_german() -> None:
    names = [t["name"] for t in match_trackers(CALL, DEFAULT_TRACKERS)]
    assert names == ["competitors", "pricing", "legal", "security", "timeline"]
    pricing = next(t for t in match_trackers(CALL, DEFAULT_TRACKERS) if t["name"] == "pricing")
    assert pricing["count"] >= 4


def test_no_segments_no_counts() -> None:
    (result,) = match_trackers([], [Tracker("x", ("y",))])
    assert result["count"] == 0 and result["moments"] == []


def test_tracker_file_both_shapes(tmp_path: Path) -> None:
    mapping = tmp_path / "a.json"
    mapping.write_text(json.dumps({"legal": ["NDA", "DSGVO"], "rivals": ["Acme*"]}))
    listed = tmp_path / "b.json"
    listed.write_text(json.dumps([{"name": "legal", "terms": ["NDA"]}]))
    assert [t.name for t in load_trackers(mapping)] == ["legal", "rivals"]
    assert load_trackers(listed)[0].terms == ("NDA",)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('"just a string"', "expected"),
        ("{}", "no trackers"),
        ('{"legal": "NDA"}', "needs a list of terms"),
        ('{"legal": []}', "non-empty terms"),
        ('{"legal": [""]}', "non-empty terms"),
        ('{"legal": [3]}', "must be strings"),
        ('[{"name": "x"}]', "'name' and a 'terms'"),
    ],
)
def test_bad_tracker_files_are_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(content)
    with pytest.raises(OptionError, match=message):
        load_trackers(path)


def test_missing_tracker_file(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="no such tracker file"):
        load_trackers(tmp_path / "missing.json")


def test_cli_rejects_a_bad_tracker_file(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    call = tmp_path / "call.jsonl"
    call.write_text(json.dumps({"text": "hello", "start_s": 0, "end_s": 1}) + "\n")
    bad = tmp_path / "trackers.json"
    bad.write_text('{"pricing": "price"}')
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "analyze", str(call), "--trackers", str(bad)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}: tracker 'pricing' needs a list of terms"
    ]
