"""Broken uploads: each gets its own 4xx with a message that says what is wrong, and leaves no
rows and no files behind. The broken files are made here from the real clips in tests/data."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from sqlalchemy import func, select

from assistant.errors import MediaError
from assistant.jobs.intake import register
from assistant.media import load_audio
from assistant.store.tables import Call, Job
from tests.helpers import DATA, write_video, write_wav
from tests.helpers.service import Service, start_service

BOUNDARY = "assistant-test-boundary"


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = BOUNDARY) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def write_mp3(path: Path, audio: np.ndarray) -> Path:
    """MP3 with a Xing header (frame count, so a declared duration), as encoders write it."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libmp3lame", rate=16_000)
        stream.layout = "mono"
        size = 1152
        for start in range(0, len(audio), size):
            chunk = np.pad(audio[start : start + size], (0, max(0, size - len(audio[start:]))))
            frame = av.AudioFrame.from_ndarray(
                chunk[:size].astype(np.float32)[None, :], format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 16_000, start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@dataclass(frozen=True)
class Bad:
    name: str
    status: int
    detail: str  # a word the message must hold


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("broken")
    audio = load_audio(DATA / "jfk.flac").mono
    files: dict[str, Path] = {}
    files["empty"] = out / "empty.mp3"
    files["empty"].write_bytes(b"")
    files["text"] = out / "notes.mp3"
    files["text"].write_text("Meeting notes: call Acme back on Friday.\n" * 50)
    files["random"] = out / "noise.wav"
    files["random"].write_bytes(np.random.default_rng(0).bytes(50_000))
    mp3 = write_mp3(out / "full.mp3", audio).read_bytes()
    files["truncated_mp3"] = out / "cut.mp3"
    files["truncated_mp3"].write_bytes(mp3[: len(mp3) // 3])
    xing = mp3.find(b"Xing") if b"Xing" in mp3 else mp3.find(b"Info")
    huge = bytearray(mp3)
    huge[xing + 8 : xing + 12] = struct.pack(">I", 0x00FFFFFF)  # ~335 hours of frames
    files["huge_duration"] = out / "long.mp3"
    files["huge_duration"].write_bytes(bytes(huge))
    mp4 = write_video(out / "full.mp4", audio, faststart=False).read_bytes()
    files["truncated_mp4"] = out / "cut.mp4"
    files["truncated_mp4"].write_bytes(mp4[: len(mp4) // 2])
    files["no_audio"] = write_video(out / "silent-film.mp4", None, seconds=3)
    files["short"] = write_wav(out / "blip.wav", audio[:1600])  # 0.1 s
    files["header_only"] = out / "header.mp3"
    files["header_only"].write_bytes(mp3[:400])
    return files


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def small_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """A service with a 600 kB upload limit (jfk.flac is 1.15 MB)."""
    tmp = tmp_path_factory.mktemp(f"uploads-{request.param}")
    yield from start_service(request.param, tmp, max_upload_bytes=600_000)


def assert_nothing_left(service: Service) -> None:
    with service.db.session() as session:
        assert session.scalar(select(func.count(Call.id))) == 0
        assert session.scalar(select(func.count(Job.id))) == 0
    assert service.files() == []


FILE_CASES = [
    ("empty", Bad("empty", 422, "empty")),
    ("text", Bad("text file named .mp3", 415, "not an audio or video file")),
    ("random", Bad("random bytes named .wav", 415, "not an audio or video file")),
    ("truncated_mp3", Bad("truncated mp3", 422, "truncated")),
    ("truncated_mp4", Bad("truncated mp4", 422, "truncated")),
    ("no_audio", Bad("video without audio", 422, "no audio track")),
    ("short", Bad("0.1 s clip", 422, "too short")),
    ("huge_duration", Bad("huge declared duration", 422, "limit")),
    ("header_only", Bad("mp3 header only", 422, "")),
]


@pytest.mark.parametrize(("key", "bad"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_broken_file_is_refused_and_leaves_nothing(
    small_service: Service, corpus: dict[str, Path], key: str, bad: Bad
) -> None:
    path = corpus[key]
    r = small_service.upload("alice", path)
    assert r.status_code == bad.status, (bad.name, r.status_code, r.text)
    detail = r.json()["detail"]
    assert bad.detail in detail.lower() or bad.detail in detail
    assert path.name in detail  # the message names the uploaded file...
    assert ".upload-" not in detail  # ...never the temporary one
    assert_nothing_left(small_service)


@pytest.mark.parametrize(("key", "bad"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_batch_refuses_what_upload_refuses_with_the_same_message(
    small_service: Service, corpus: dict[str, Path], key: str, bad: Bad
) -> None:
    """A batch's file is checked as an upload is (``assistant.media.check``): the same files
    are refused, with the same words, before a call or a copy of the file exists."""
    path = corpus[key]
    r = small_service.upload("alice", path)
    assert r.status_code == bad.status, (bad.name, r.status_code, r.text)
    with pytest.raises(MediaError) as refused:
        register(small_service.db, small_service.settings, "alice", path)
    assert str(refused.value) == r.json()["detail"]
    assert_nothing_left(small_service)


def post(service: Service, body: bytes, ctype: str | None = None, **headers: str):  # type: ignore[no-untyped-def]
    h = {**service.h("alice"), **headers}
    h["content-type"] = ctype or f"multipart/form-data; boundary={BOUNDARY}"
    return service.client.post("/api/calls", content=body, headers=h)


def flac() -> bytes:
    return (DATA / "i_tell_you.wav").read_bytes()


REQUEST_CASES: list[tuple[str, int, str, object]] = [
    ("not multipart", 415, "multipart", lambda s: post(s, b"{}", "application/json")),
    ("no boundary", 400, "boundary", lambda s: post(s, b"x", "multipart/form-data")),
    ("garbage multipart", 400, "multipart", lambda s: post(s, b"this is not multipart at all")),
    (
        "body ends inside the file",
        400,
        "",
        lambda s: post(s, multipart([("file", "a.wav", flac())])[:-200]),
    ),
    ("missing file", 422, "'file'", lambda s: post(s, multipart([("title", None, b"Call")]))),
    (
        "file without filename",
        422,
        "filename",
        lambda s: post(s, multipart([("file", "", flac())])),
    ),
    (
        "path in filename",
        422,
        "path",
        lambda s: post(s, multipart([("file", "../../etc/passwd.wav", flac())])),
    ),
    (
        "windows path in filename",
        422,
        "path",
        lambda s: post(s, multipart([("file", "..\\..\\boot.wav", flac())])),
    ),
    (
        "two files",
        422,
        "one recording",
        lambda s: post(s, multipart([("file", "a.wav", flac()), ("file", "b.wav", flac())])),
    ),
    (
        "unknown field",
        422,
        "unknown form field",
        lambda s: post(s, multipart([("file", "a.wav", flac()), ("colour", None, b"red")])),
    ),
    (
        "bad call date",
        422,
        "call_date",
        lambda s: post(s, multipart([("file", "a.wav", flac()), ("call_date", None, b"May 5")])),
    ),
    (
        "unknown language",
        422,
        "language",
        lambda s: post(s, multipart([("file", "a.wav", flac()), ("language", None, b"klingon")])),
    ),
    (
        "title too long",
        422,
        "title",
        lambda s: post(s, multipart([("file", "a.wav", flac()), ("title", None, b"x" * 900)])),
    ),
    (
        "field too long",
        422,
        "too long",
        lambda s: post(s, multipart([("file", "a.wav", flac()), ("customer", None, b"x" * 5000)])),
    ),
    (
        "unknown rep",
        422,
        "rep",
        lambda s: post(s, multipart([("file", "a.wav", flac()), ("rep", None, b"nobody")])),
    ),
    (
        "oversized body (Content-Length)",
        413,
        "limit",
        lambda s: s.upload("alice", DATA / "jfk.flac"),
    ),
    (
        "oversized body (chunked, no Content-Length)",
        413,
        "limit",
        lambda s: s.client.post(
            "/api/calls",
            content=iter([multipart([("file", "big.flac", (DATA / "jfk.flac").read_bytes())])]),
            headers={
                **s.h("alice"),
                "content-type": f"multipart/form-data; boundary={BOUNDARY}",
            },
        ),
    ),
]


@pytest.mark.parametrize(
    ("name", "status", "detail", "send"), REQUEST_CASES, ids=[c[0] for c in REQUEST_CASES]
)
def test_broken_request_is_refused_and_leaves_nothing(
    small_service: Service, name: str, status: int, detail: str, send
) -> None:  # type: ignore[no-untyped-def]
    r = send(small_service)
    assert r.status_code == status, (name, r.status_code, r.text)
    assert detail.lower() in r.json()["detail"].lower()
    assert_nothing_left(small_service)


@pytest.mark.parametrize(
    "name",
    # Each under this service's 600 kB limit (jfk.flac, 1.2 MB, is uploaded in test_api_calls).
    ["testing_routine.wav", "multilingual.mp3", "stereo_diarization.wav", "fleurs-de-000.ogg"],
)
def test_good_recordings_are_accepted(small_service: Service, name: str) -> None:
    path = DATA / name
    assert path.stat().st_size < small_service.settings.max_upload_bytes
    r = small_service.upload("alice", path)
    assert r.status_code == 202, r.text
    small_service.client.delete(
        f"/api/calls/{r.json()['call']['id']}", headers=small_service.h("alice")
    )
    assert_nothing_left(small_service)


def test_video_is_accepted(small_service: Service, corpus: dict[str, Path]) -> None:
    r = small_service.upload("alice", corpus["truncated_mp4"].with_name("full.mp4"))
    assert r.status_code == 202, r.text
    assert r.json()["call"]["media_kind"] == "video"
    small_service.client.delete(
        f"/api/calls/{r.json()['call']['id']}", headers=small_service.h("alice")
    )
    assert_nothing_left(small_service)


def test_storage_that_fails_is_507_not_a_crash(service: Service) -> None:
    blocked = service.settings.data_dir / "uploads"
    blocked.write_text("a file where the upload folder should be")
    r = service.upload("alice", DATA / "i_tell_you.wav")
    assert r.status_code == 507 and "cannot store" in r.json()["detail"]
    blocked.unlink()
    assert service.files() == []
    assert service.upload("alice", DATA / "i_tell_you.wav").status_code == 202
