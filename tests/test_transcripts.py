from __future__ import annotations

import json
import subprocess
import sys
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


def test_jsonl_reads_start_and_end_as_whisper_tools_write_them(tmp_path: Path) -> None:
    """Segments exported by faster-whisper or WhisperX carry ``start``/``end``: their times are
    kept, not read as missing (every turn at 0:00)."""
    path = tmp_path / "whisperx.jsonl"
    path.write_text(
        '{"start": 1.5, "end": 4.0, "text": "We need SSO.", "speaker": "SPEAKER_01"}\n'
        '{"start": 4.5, "end": 6.25, "text": "Okay.", "speaker": "SPEAKER_00"}\n'
    )
    segments = read_transcript(path)
    assert [(s.start_s, s.end_s) for s in segments] == [(1.5, 4.0), (4.5, 6.25)]


def test_whole_file_json_as_whisper_and_whisperx_write_it(tmp_path: Path) -> None:
    """WhisperX's ``{"segments": [...]}`` with a speaker on each segment, Whisper's without
    speakers and with an empty segment over silence, and a bare list of turns."""
    whisperx = tmp_path / "call.json"
    whisperx.write_text(
        json.dumps(
            {
                "segments": [
                    {"start": 0.5, "end": 3.0, "text": " Hi Dana.", "speaker": "SPEAKER_00"},
                    {"start": 3.2, "end": 7.9, "text": " We need SSO.", "speaker": "SPEAKER_01"},
                ],
                "word_segments": [{"word": "Hi", "start": 0.5, "end": 0.7}],
            }
        )
    )
    assert [(s.start_s, s.end_s, s.text, s.speaker) for s in read_transcript(whisperx)] == [
        (0.5, 3.0, "Hi Dana.", "SPEAKER_00"),
        (3.2, 7.9, "We need SSO.", "SPEAKER_01"),
    ]
    whisper = tmp_path / "whisper.json"
    whisper.write_text(
        json.dumps(
            {
                "text": " Hello. Go on.",
                "language": "en",
                "segments": [
                    {"id": 0, "seek": 0, "start": 0.0, "end": 1.0, "text": " Hello."},
                    {"id": 1, "seek": 0, "start": 1.0, "end": 4.0, "text": " "},
                    {"id": 2, "seek": 0, "start": 4.0, "end": 5.5, "text": " Go on."},
                ],
            }
        )
    )
    segments = read_transcript(whisper)
    assert [(s.id, s.start_s, s.text, s.speaker) for s in segments] == [
        (0, 0.0, "Hello.", None),
        (1, 4.0, "Go on.", None),
    ]
    turns = tmp_path / "turns.json"
    turns.write_text('[{"text": "Hi.", "role": "rep"}, {"text": "Hello.", "role": "customer"}]')
    assert [s.role for s in read_transcript(turns)] == ["rep", "customer"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notjson.json", "{oops", "notjson.json: not valid JSON"),
        ("nosegments.json", '{"text": "hi"}', "an object with a 'segments' list"),
        ("scalar.json", "42", "a list of turns"),
        ("turn.json", '{"segments": [{"text": "a"}, "b"]}', "turn.json: segment 2: each turn"),
        ("time.json", '{"segments": [{"text": "a", "end": -1}]}', "segment 1: end must be"),
        ("emptyjson.json", '{"segments": []}', "no utterances"),
        ("bad.jsonl", '{"text": "ok"}\nnot json\n', "bad.jsonl:2: not valid JSON"),
        ("notext.jsonl", '{"speaker": "Anna"}\n', "needs a 'text' string"),
        ("role.jsonl", '{"text": "x", "role": "boss"}\n', "role must be"),
        ("times.jsonl", '{"text": "x", "start_s": "soon"}\n', "start_s must be a number"),
        ("start.jsonl", '{"text": "x", "start": "soon"}\n', "start must be a number"),
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


def _jsonl_time(value: str) -> str:
    """Two utterances; the second starts at ``value``."""
    return '{"text": "x", "start_s": 1.0}\n{"text": "y", "start_s": ' + value + "}\n"


HOSTILE = {
    "hours.vtt": (f"WEBVTT\n\n{'9' * 5000}:00:00.000 --> 00:00:01.000\nhi\n", "out of range"),
    "hours.srt": (f"1\n00:00:00,000 --> {'9' * 400}:00:00,000\nhi\n", "out of range"),
    "late.srt": ("1\n00:00:00,000 --> 1000000:00:00,000\nhi\n", "out of range"),
    "digits.jsonl": (_jsonl_time("1" * 5000), "digits.jsonl:2: a number has too many digits"),
    "overflow.jsonl": (_jsonl_time("1" + "0" * 400), "must be a time from 0 to"),
    "nested.jsonl": ('{"text": "x", "meta": ' + "[" * 100_000 + "\n", "nested too deeply"),
    "array.jsonl": ("[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"),
    "nan.jsonl": (_jsonl_time("NaN"), "nan.jsonl:2: start_s must be a time from 0 to"),
    "nanstr.jsonl": ('{"text": "x", "end_s": "nan"}\n', "end_s must be a time"),
    "inf.jsonl": (_jsonl_time("Infinity"), "must be a time from 0 to"),
    "big.jsonl": (_jsonl_time("1e999"), "must be a time from 0 to"),
    "far.jsonl": (_jsonl_time("1e300"), "must be a time from 0 to"),
    "negative.jsonl": (_jsonl_time("-5"), "must be a time from 0 to"),
    "negend.jsonl": ('{"text": "x", "start_s": 0, "end_s": -0.5}\n', "end_s must be a time"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_transcripts_are_one_short_error(tmp_path: Path, name: str) -> None:
    """Numbers Python cannot convert or that are no time, and nesting that exhausts the parser,
    are format errors too: one line that names the file, never the whole offending text."""
    content, message = HOSTILE[name]
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TranscriptFormatError, match=message) as raised:
        read_transcript(path)
    text = str(raised.value)
    assert text.startswith(path.name) and "\n" not in text and len(text) < 200


HOSTILE_TAGS = {
    "lt": "<" * 1_000_000,
    "voice": "<v" + " " * 1_000_000 + "x",
    "voice-class": "<v." + "\t" * 1_000_000 + "x",
    "tags": "<b" * 500_000,
}


def test_cue_text_is_parsed_in_linear_time(tmp_path: Path) -> None:
    """Tags are stripped by expressions that cannot backtrack over the whole cue: a megabyte of
    ``<`` (or of spaces in a voice tag) used to take minutes; each must parse in moments. A
    child process runs the parser so a regression fails at the timeout instead of hanging."""
    script = (
        "import sys; from pathlib import Path; from assistant.transcripts import read_transcript\n"
        "for name in sys.argv[1:]:\n"
        "    segments = read_transcript(Path(name))\n"
        "    print(len(segments), len(segments[0].text), segments[1].speaker)\n"
    )
    paths = []
    for key, text in HOSTILE_TAGS.items():
        path = tmp_path / f"{key}.vtt"
        path.write_text(
            f"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n{text}\n\n"
            "00:00:03.000 --> 00:00:04.000\n<v Anna>Thanks.</v>\n"
        )
        paths.append(str(path))
    done = subprocess.run(
        [sys.executable, "-c", script, *paths], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.split("\n")[:-1]
    assert len(lines) == len(HOSTILE_TAGS)
    assert all(line.startswith("2 ") and line.endswith(" Anna") for line in lines)
