from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import TranscriptFormatError
from assistant.transcripts import read_transcript

VTT = """WEBVTT

NOTE exported from a video call

1
00:00:01.000 --> 00:00:04.500
<v Anna Schmidt>Thanks for joining, Markus.</v>

2
00:00:05.000 --> 00:01:02.250
<v Markus>We build the reports by hand
every Monday.</v>

00:01:03.000 --> 00:01:05.000
Unattributed line
"""

SRT = """1
00:00:00,000 --> 00:00:02,000
Anna: Hello there.

2
00:00:02,500 --> 01:00:03,125
Markus: It has to run on tablets.
"""


def test_vtt_keeps_cues_speakers_and_times(tmp_path: Path) -> None:
    path = tmp_path / "call.vtt"
    path.write_text(VTT)
    segments = read_transcript(path)
    assert [s.text for s in segments] == [
        "Thanks for joining, Markus.",
        "We build the reports by hand every Monday.",
        "Unattributed line",
    ]
    assert [s.speaker for s in segments] == ["Anna Schmidt", "Markus", None]
    assert segments[1].start_s == 5.0 and segments[1].end_s == 62.25
    assert [s.id for s in segments] == [0, 1, 2]


def test_srt_with_zoom_style_speaker_prefix(tmp_path: Path) -> None:
    path = tmp_path / "call.srt"
    path.write_text(SRT)
    segments = read_transcript(path)
    assert [(s.speaker, s.text) for s in segments] == [
        ("Anna", "Hello there."),
        ("Markus", "It has to run on tablets."),
    ]
    assert segments[1].end_s == pytest.approx(3603.125)


def test_jsonl_with_optional_fields(tmp_path: Path) -> None:
    rows = [
        {
            "text": "Hi, Anna from Brightline.",
            "start_s": 0,
            "end_s": 2.5,
            "speaker": "Anna",
            "role": "rep",
        },
        {"text": "We need SSO.", "speaker": "Markus", "role": "customer"},
        {"text": "No times at all"},
    ]
    path = tmp_path / "call.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    segments = read_transcript(path)
    assert [s.text for s in segments] == [r["text"] for r in rows]
    assert segments[0].role == "rep" and segments[1].role == "customer" and segments[2].role is None
    # Missing times continue from the previous utterance instead of jumping back to zero.
    assert segments[1].start_s == 2.5


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"text": "ok"}\nnot json\n', "bad.jsonl:2: not valid JSON"),
        ("notext.jsonl", '{"speaker": "Anna"}\n', "needs a 'text' string"),
        ("role.jsonl", '{"text": "x", "role": "boss"}\n', "role must be"),
        ("times.jsonl", '{"text": "x", "start_s": "soon"}\n', "must be numbers"),
        ("empty.jsonl", "\n", "no utterances"),
        ("noheader.vtt", "00:00:01.000 --> 00:00:02.000\nhi\n", "must start with 'WEBVTT'"),
        ("badtime.srt", "1\n00:00:xx,000 --> 00:00:02,000\nhi\n", "bad cue timing"),
        ("backwards.srt", "1\n00:00:05,000 --> 00:00:02,000\nhi\n", "ends before it starts"),
    ],
)
def test_broken_transcripts_get_specific_errors(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TranscriptFormatError, match=message):
        read_transcript(path)


def test_binary_file_with_transcript_extension(tmp_path: Path) -> None:
    path = tmp_path / "call.vtt"
    path.write_bytes(b"\xff\xfe\x00\x81" * 100)
    with pytest.raises(TranscriptFormatError, match="UTF-8"):
        read_transcript(path)
