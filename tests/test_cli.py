"""The ``assistant`` command end to end, on real clips with the real bundled models."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.media import load_audio
from tests.helpers import write_video

JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
runner = CliRunner()


def words_of(text: str) -> list[str]:
    return re.sub(r"[^\w\s]", "", text.lower()).split()


def words(report: dict) -> list[str]:
    return words_of(" ".join(s["text"] for s in report["segments"]))


def analyze(*args: str) -> dict:
    result = runner.invoke(app, ["analyze", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_analyze_recording_gives_full_report(data: Path) -> None:
    report = analyze(str(data / "jfk.flac"))
    # Every word exactly; int8 punctuation and case differ between machines (test_transcribe).
    assert report["segments"] and words(report) == words_of(JFK)
    assert report["language"] == "en"
    assert report["items"] == []
    source = report["source"]
    assert source["kind"] == "audio" and source["channels"] == 2
    assert len(source["sha256"]) == 64 and 10.9 < source["duration_s"] < 11.1
    provenance = report["provenance"]
    assert provenance["engine"] == "faster-whisper" and provenance["model"] == "base"
    assert provenance["compute_type"] == "int8" and provenance["pipeline_version"]
    assert "faster-whisper" in provenance["versions"]
    previous = 0.0
    for segment in report["segments"]:
        assert {"id", "start_s", "end_s", "text", "words", "speaker", "role"} <= segment.keys()
        assert previous <= segment["start_s"] <= segment["end_s"] <= 11.1
        previous = segment["start_s"]
        for word in segment["words"]:
            assert (
                segment["start_s"] - 0.01
                <= word["start_s"]
                <= word["end_s"]
                <= segment["end_s"] + 0.01
            )


def test_video_gives_the_same_text_as_its_audio(tmp_path: Path, data: Path) -> None:
    video = write_video(tmp_path / "meeting.mp4", load_audio(data / "jfk.flac").mono)
    from_audio = analyze(str(data / "jfk.flac"))
    from_video = analyze(str(video))
    assert from_video["source"]["kind"] == "video"
    # AAC is lossy: the words must match; punctuation may differ.
    assert words(from_video) == words(from_audio) == words_of(JFK)


def test_output_file_and_text_formats(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "jfk.srt"
    result = runner.invoke(
        app, ["analyze", str(data / "jfk.flac"), "-m", "tiny.en", "-f", "srt", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    srt = out.read_text()
    assert srt.startswith("1\n00:00:00,000 --> ") and "fellow Americans" in srt
    vtt = runner.invoke(
        app, ["analyze", str(data / "jfk.flac"), "-m", "tiny.en", "-f", "vtt"]
    ).stdout
    assert vtt.startswith("WEBVTT") and "-->" in vtt
    md = runner.invoke(app, ["analyze", str(data / "jfk.flac"), "-m", "tiny.en", "-f", "md"]).stdout
    assert md.startswith("# Call report: jfk.flac") and "## Transcript" in md
    txt = runner.invoke(
        app, ["analyze", str(data / "jfk.flac"), "-m", "tiny.en", "-f", "txt"]
    ).stdout
    assert txt.startswith("[0:00] ")


def test_german_clip_detected_as_german(data: Path) -> None:
    report = analyze(str(data / "fleurs-de-000.ogg"))
    assert report["language"] == "de"


def test_jsonl_transcript_keeps_its_segments(tmp_path: Path) -> None:
    rows = [
        {
            "text": "Thanks for making the time today.",
            "start_s": 0.0,
            "end_s": 2.0,
            "speaker": "Anna",
            "role": "rep",
        },
        {
            "text": "Sure. Our managers build these reports by hand every Monday.",
            "start_s": 2.4,
            "end_s": 6.0,
            "speaker": "Markus",
            "role": "customer",
        },
    ]
    path = tmp_path / "call.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = analyze(str(path))
    assert report["source"]["kind"] == "transcript"
    assert report["provenance"]["engine"] == "transcript"
    got = [
        {k: s[k] for k in ("text", "start_s", "end_s", "speaker", "role")}
        for s in report["segments"]
    ]
    assert got == rows


def test_vtt_transcript_keeps_its_segments(tmp_path: Path) -> None:
    path = tmp_path / "call.vtt"
    path.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Anna>Hello Markus.</v>\n\n"
        "00:00:03.500 --> 00:00:05.000\n<v Markus>Hi Anna.</v>\n"
    )
    report = analyze(str(path))
    assert [(s["speaker"], s["text"], s["start_s"]) for s in report["segments"]] == [
        ("Anna", "Hello Markus.", 1.0),
        ("Markus", "Hi Anna.", 3.5),
    ]


def test_whisperx_json_keeps_its_speakers_and_times(tmp_path: Path) -> None:
    """A WhisperX result file is analysed as it is: its speakers and times are the call's."""
    path = tmp_path / "call.json"
    segments = [
        {
            "start": 1.0,
            "end": 4.0,
            "text": " Thanks for joining. What brings you here?",
            "speaker": "SPEAKER_00",
        },
        {
            "start": 4.5,
            "end": 9.0,
            "text": " We need the reports to go out in Spanish too.",
            "speaker": "SPEAKER_01",
        },
    ]
    path.write_text(json.dumps({"segments": segments, "word_segments": []}))
    report = analyze(str(path))
    assert report["source"]["kind"] == "transcript"
    assert [(s["speaker"], s["start_s"], s["end_s"]) for s in report["segments"]] == [
        ("SPEAKER_00", 1.0, 4.0),
        ("SPEAKER_01", 4.5, 9.0),
    ]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory, data: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("broken")
    notes = folder / "notes.mp3"
    notes.write_text("not audio\n" * 50)
    mp3 = (data / "multilingual.mp3").read_bytes()
    (folder / "cut.mp3").write_bytes(mp3[: len(mp3) // 3])
    silent_video = write_video(folder / "screen.mp4", None, seconds=2)
    blip = folder / "blip.wav"
    from tests.helpers import write_wav

    write_wav(blip, load_audio(data / "jfk.flac").mono[:1600])
    bad_jsonl = folder / "bad.jsonl"
    bad_jsonl.write_text("{oops\n")
    return {
        "notes": notes,
        "cut": folder / "cut.mp3",
        "video": silent_video,
        "blip": blip,
        "jsonl": bad_jsonl,
    }


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("notes", "not an audio or video file"),
        ("cut", "truncated"),
        ("video", "no audio track"),
        ("blip", "empty or too short"),
        ("jsonl", "not valid JSON"),
    ],
)
def test_bad_input_exits_2_with_one_line(broken: dict[str, Path], key: str, message: str) -> None:
    result = run_cli("analyze", str(broken[key]), "-m", "tiny.en")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "missing.wav"], "no such file"),
        (["analyze", "tests/data/jfk.flac", "--language", "xx"], "Unknown language 'xx'"),
        (["analyze", "tests/data/jfk.flac", "--format", "pdf"], "unknown format 'pdf'"),
        (["analyze", "tests/data/jfk.flac", "--engine", "nope"], "Unknown engine 'nope'"),
        (
            ["analyze", "tests/data/jfk.flac", "--call-date", "31.03.2026"],
            "--call-date must look like",
        ),
        (["analyze", "tests/data/fleurs-de-000.ogg", "-m", "tiny.en", "-l", "de"], "English-only"),
        (
            ["analyze", "tests/data/jfk.flac", "-m", "/nonexistent/model"],
            "cannot load Whisper model",
        ),
        (["batch", "tests/data/jfk.flac"], "not a folder"),
    ],
)
def test_bad_arguments_exit_2(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr


def test_bad_setting_in_environment_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_BEAM_SIZE", "lots")
    result = run_cli("analyze", "tests/data/jfk.flac")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: invalid setting: ASSISTANT_BEAM_SIZE: "
        "Input should be a valid integer, unable to parse string as an integer"
    )


HOSTILE_TRANSCRIPTS = {
    "hours.vtt": (f"WEBVTT\n\n{'9' * 5000}:00:00.000 --> 00:00:01.000\nhi\n", "out of range"),
    "overflow.jsonl": ('{"text": "x", "start_s": 1' + "0" * 400 + "}\n", "must be a time"),
    "digits.jsonl": ('{"text": "x", "end_s": ' + "1" * 5000 + "}\n", "too many digits"),
    "nested.jsonl": ("[" * 100_000 + "\n", "nested too deeply"),
    "nan.jsonl": ('{"text": "x", "start_s": NaN}\n', "must be a time"),
    "negative.jsonl": ('{"text": "x", "start_s": -3}\n', "must be a time"),
    "nested.json": ('{"segments": ' + "[" * 100_000, "nested too deeply"),
    "tags.vtt": (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n"
        + "<" * 1_000_000
        + "\n\n00:00:0x.000 --> 00:00:04.000\nhi\n",
        "bad cue timing",
    ),
}


@pytest.mark.parametrize("name", HOSTILE_TRANSCRIPTS)
def test_hostile_transcript_exits_2_with_one_line(tmp_path: Path, name: str) -> None:
    content, message = HOSTILE_TRANSCRIPTS[name]
    path = tmp_path / name
    path.write_text(content)
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "analyze", str(path)],
        capture_output=True,
        text=True,
        timeout=60,  # a megabyte of '<' once took minutes
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {name}") and message in lines[0]
    assert len(lines[0]) < 200 and result.stdout == ""


@pytest.mark.slow
def test_sample_sales_call_shows_what_the_product_is_for() -> None:
    """`make sample`'s English call: two parties on two channels, the rep on the left. The model's
    own items: a price objection of the customer's and dated next steps on both sides."""
    sample = Path(__file__).parents[1] / "samples" / "sales_call_en.ogg"
    report = analyze(str(sample), "--call-date", "2026-03-02")
    roles = {s["id"]: s for s in report["speakers"]}
    assert {s["role"] for s in roles.values()} == {"rep", "customer"}
    assert {s["channel"]: s["role"] for s in roles.values()} == {"left": "rep", "right": "customer"}
    assert not any(s["role_uncertain"] for s in roles.values())
    items = report["items"]
    price = [i for i in items if i["kind"] == "objection" and i["category"] == "price"]
    assert price and all(i["role"] == "customer" for i in price)
    assert "too high" in price[0]["quote"]
    actions = {i["role"]: i for i in items if i["kind"] == "action_item"}
    assert actions["rep"]["due"] == "2026-03-06"  # "by Friday", from Monday 2 March
    assert "pricing sheet" in actions["rep"]["quote"]
    assert actions["customer"]["due"] is not None  # "next week"
