"""What the tests share: builders for derived test media (containers, silence, broken files,
made at run time from the real clips in tests/data, never committed), a conversation of real
voices, reports written out line by line, a sample customer account, and the app with stored
reports for page tests."""

from __future__ import annotations

import hashlib
import re
import socket
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np

from assistant.media import SAMPLE_RATE, load_audio

DATA = Path(__file__).parents[1] / "data"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from assistant.report import CallReport
    from assistant.report import Item as ReportItem
    from assistant.store import Database


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """16-bit PCM WAV; ``samples`` is (n,) or (channels, n) float in [-1, 1]."""
    frames = np.atleast_2d(samples)
    pcm = (np.clip(frames, -1, 1) * 32767).astype("<i2").T.copy()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(frames.shape[0])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def write_video(
    path: Path,
    audio: np.ndarray | None,
    seconds: float | None = None,
    vcodec: str = "mpeg4",
    acodec: str = "aac",
    faststart: bool = True,
) -> Path:
    """A small video (moving grey frames at 10 fps) with ``audio`` (mono, 16 kHz) as its sound."""
    duration = seconds if seconds is not None else len(audio) / SAMPLE_RATE  # type: ignore[arg-type]
    options = {"movflags": "faststart"} if faststart and path.suffix in (".mp4", ".mov") else {}
    with av.open(str(path), "w", options=options) as out:
        video = out.add_stream(vcodec, rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream(acodec, rate=SAMPLE_RATE) if audio is not None else None
        if sound is not None:
            sound.layout = "mono"
        for i in range(int(duration * 10)):
            image = np.full((48, 64, 3), (i * 7) % 255, np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(video.encode())
        if sound is not None and audio is not None:
            size = sound.codec_context.frame_size or 1024
            for start in range(0, len(audio), size):
                chunk = audio[start : start + size].astype(np.float32)
                chunk = np.pad(chunk, (0, size - len(chunk)))
                frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                frame.sample_rate = SAMPLE_RATE
                frame.pts = start
                out.mux(sound.encode(frame))
            out.mux(sound.encode())
    return path


@contextmanager
def app_with_reports(
    tmp_path: Path, reports: dict[str, CallReport]
) -> Iterator[tuple[TestClient, str, dict[str, int]]]:
    """The real app on a fresh SQLite database where rep alice owns one call per report (stored
    as it is: no models run), signed in through the login form: (client, alice's token,
    {name: call id})."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from assistant.settings import Settings
    from assistant.store import Database
    from assistant.store import calls as store
    from assistant.store.users import create_user, issue_token

    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'a.db'}")
    db = Database(settings.resolved_database_url)
    db.migrate()
    ids = {}
    with db.session() as session:
        alice = create_user(session, "alice", "rep", "east")
        token = issue_token(session, alice)
        for name, report in reports.items():
            suffix = Path(report.source.path).suffix
            new = store.NewCall(
                sha256=hashlib.sha256(name.encode()).hexdigest(),
                filename=f"{name}{suffix}",
                size_bytes=100,
                media_format=suffix.lstrip("."),
                media_kind=report.source.kind,
                duration_s=report.source.duration_s,
                title=name,
            )
            created, _, _ = store.create_call(session, alice, new)
            store.save_report(session, created, report)
            ids[name] = created.id
    try:
        with TestClient(create_app(settings, db=db)) as client:
            form = client.get("/login").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
            assert csrf
            client.post("/login", data={"token": token, "csrf_token": csrf.group(1)})
            yield client, token, ids
    finally:
        db.dispose()


Line = tuple[str, str | None, str]  # speaker label, role (None: not known), text
WRITTEN_AT = datetime(2026, 11, 20, tzinfo=UTC)


def written_call(
    lines: list[Line],
    day: date | None = None,
    items: list[ReportItem] | None = None,
    names: dict[str, str] | None = None,
) -> CallReport:
    """A call report from lines written out (no models run): each line lasts half a second per
    word with half a second between lines, so talk time follows the words; metrics and tracker
    hits come from the real stages, as the pipeline makes them."""
    from assistant.metrics import compute_metrics
    from assistant.report import CallReport, Provenance, Segment, Source, Speaker
    from assistant.trackers import DEFAULT_TRACKERS, match_trackers

    segments, start = [], 0.0
    for i, (who, role, text) in enumerate(lines):
        end = start + 0.5 * len(text.split())
        segments.append(Segment(id=i, start_s=start, end_s=end, text=text, speaker=who, role=role))
        start = end + 0.5
    roles = {who: role for who, role, _ in lines}
    names = names or {}
    return CallReport(
        source=Source(path="call.wav", sha256="0" * 64, kind="audio", duration_s=start),
        call_date=day,
        provenance=Provenance(
            engine="faster-whisper", model="base", pipeline_version="test", created_at=WRITTEN_AT
        ),
        segments=segments,
        items=items or [],
        speakers=[Speaker(id=who, name=names.get(who), role=role) for who, role in roles.items()],
        metrics=compute_metrics(segments, start),
        trackers=match_trackers(segments, DEFAULT_TRACKERS),
    )


# A probe of the extractor: a short call as (role, text) turns, the indices of the items it must
# show, and the indices of near misses it must not show as such.
Probe = tuple[str, list[tuple[str, str]], list[int], list[int]]


def probe_outcome(kind: str, probes: list[Probe], day: date) -> tuple[list[str], list[str], int]:
    """(items missed, near misses shown as items, items in the probes), each as 'call:turn':
    each probe through the shipped model for its language (the name's prefix) and the product's
    extraction path."""
    from assistant.extract import extract_items
    from assistant.extract.classifier import get_classifier

    missed: list[str] = []
    wrong: list[str] = []
    total = 0
    speakers = {"rep": "Alex", "customer": "Sam"}
    for name, turns, wanted, near_misses in probes:
        call = written_call([(speakers[role], role, text) for role, text in turns], day)
        items = extract_items(call.segments, day, get_classifier(None, name.split("-")[0]))
        found = {i for item in items if item.kind == kind for i in item.segment_ids}
        total += len(wanted)
        missed += [f"{name}:{i}" for i in wanted if i not in found]
        wrong += [f"{name}:{i}" for i in near_misses if i in found]
    return missed, wrong, total


def line_item(lines: list[Line], i: int, kind: str, **fields: object) -> ReportItem:
    """An item on line ``i`` of a ``written_call``, said by that line's speaker."""
    from assistant.report import Item

    at = sum(0.5 * len(text.split()) + 0.5 for _, _, text in lines[:i])
    who, role, text = lines[i]
    return Item(
        id=i,
        kind=kind,  # type: ignore[arg-type]
        text=text,
        quote=text,
        start_s=at,
        end_s=at + 0.5 * len(text.split()),
        speaker=who,
        role=role,  # type: ignore[arg-type]
        confidence=0.9,
        segment_ids=[i],
        **fields,  # type: ignore[arg-type]
    )


# A sample account for customer and follow-up tests. East: alice's first call with "Acme GmbH",
# bob's second with "ACME  gmbh" (the same customer, spelled otherwise), alice's third with
# "Acme" (another account until merged); west: carol's call with "Acme GmbH".
ACME_FIRST: list[Line] = [
    ("S1", "rep", "Thanks for making the time today, I would like to hear how you plan routes."),
    ("S2", "customer", "We need the planner to integrate with Salesforce, that is a must."),
    ("S1", "rep", "Understood, our connector syncs accounts and orders both ways every night."),
    ("S2", "customer", "Honestly the price you mentioned is more than we had budgeted."),
    ("S1", "rep", "I will send you the pricing sheet with the volume discount by Monday."),
]
ACME_SECOND: list[Line] = [
    ("S1", "rep", "Good to see you again, last time we talked about the Salesforce sync."),
    ("S2", "customer", "We still need the planner to integrate with Salesforce before we sign."),
    ("S3", "customer", "And we need single sign-on with Azure for all drivers."),
    ("S1", "rep", "Single sign-on is included, I can show you the setup in the trial."),
    ("S2", "customer", "I will ask our IT lead to book the trial kickoff this week."),
    ("S1", "rep", "And I will draft the rollout plan for your two depots."),
]


def _lines_report(lines: list[Line], day: date, items: list[tuple[int, str, dict]]) -> CallReport:
    return written_call(lines, day, [line_item(lines, i, kind, **f) for i, kind, f in items])


def store_call(db: Database, rep: str, customer: str, report: CallReport) -> int:
    """A finished call of ``rep`` with ``customer``, its report stored as it is (no models)."""
    from sqlalchemy import select

    from assistant.store import calls as store
    from assistant.store.tables import User

    with db.session() as session:
        owner = session.scalar(select(User).where(User.name == rep))
        assert owner is not None
        digest = hashlib.sha256(f"{rep}{customer}{report.call_date}".encode()).hexdigest()
        new = store.NewCall(
            digest, "call.m4a", 1000, "mp4", "audio", 60.0, "Call", customer, report.call_date
        )
        call, _, _ = store.create_call(session, owner, new)
        store.save_report(session, call, report)
        return call.id


def seed_acme(db: Database) -> dict[str, int]:
    """The sample account's calls (users alice, bob and carol must exist): {name: call id}."""
    first = _lines_report(
        ACME_FIRST,
        date(2026, 10, 1),
        [
            (1, "customer_need", {}),
            (3, "objection", {"category": "price"}),
            (4, "action_item", {"owner": "rep", "due": date(2026, 10, 5)}),
        ],
    )
    second = _lines_report(
        ACME_SECOND,
        date(2026, 11, 2),
        [
            (1, "customer_need", {}),
            (2, "customer_need", {}),
            (4, "action_item", {"owner": "customer", "due": date(2026, 11, 26)}),
            (5, "action_item", {"owner": "rep"}),
        ],
    )
    third = _lines_report(ACME_FIRST[:3], date(2026, 11, 20), [])
    return {
        "first": store_call(db, "alice", "Acme GmbH", first),
        "second": store_call(db, "bob", "ACME  gmbh", second),
        "third": store_call(db, "alice", "Acme", third),
        "west": store_call(db, "carol", "Acme GmbH", first),
    }


# A two-voice conversation of real clips (tests/data) for the speaker tests.
# (clip, voice): LibriSpeech 251 is the rep, FLEURS en-002..004 one other speaker.
TURNS = [
    ("testing_routine.wav", "rep"),
    ("fleurs-en-003.ogg", "customer"),
    ("i_tell_you.wav", "rep"),
    ("fleurs-en-004.ogg", "customer"),
]
GAP_S = 0.6


def conversation(
    turns=TURNS, gap_s: float = GAP_S
) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """Clips laid end to end: the audio and the reference [(start_s, end_s, voice)]."""
    parts, reference, cursor = [], [], 0.5
    parts.append(np.zeros(int(0.5 * SAMPLE_RATE), np.float32))
    for clip, voice in turns:
        audio = load_audio(DATA / clip).mono
        audio = audio / (np.sqrt(np.mean(audio**2)) + 1e-9) * 0.05
        parts += [audio.astype(np.float32), np.zeros(int(gap_s * SAMPLE_RATE), np.float32)]
        reference.append((cursor, cursor + len(audio) / SAMPLE_RATE, voice))
        cursor += len(audio) / SAMPLE_RATE + gap_s
    return np.concatenate(parts), reference


def spoken_call(parts: list[tuple[str, float]]) -> CallReport:
    """A call whose speech is ``parts``: (language, seconds) one after another."""
    from assistant.report import CallReport, Provenance, Segment, Source

    segments, start = [], 0.0
    for i, (language, seconds) in enumerate(parts):
        segments.append(
            Segment(id=i, start_s=start, end_s=start + seconds, text="...", language=language)
        )
        start += seconds + 1.0
    return CallReport(
        source=Source(path="call.wav", sha256="0" * 64, kind="audio", duration_s=start),
        language=max(dict(parts), key=lambda k: sum(s for lang, s in parts if lang == k)),
        provenance=Provenance(
            engine="faster-whisper",
            model="base",
            pipeline_version="test",
            created_at=datetime.now(UTC),
        ),
        segments=segments,
    )
