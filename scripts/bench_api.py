"""API responsiveness and upload memory, measured on the real server (``assistant serve``).

1. Latency while transcribing: the server starts with one worker process; a long call (the real
   clips in tests/data joined into one recording of --call-minutes) is uploaded, and once its job
   is in the ``transcribe`` stage, ``GET /api/calls`` is requested --requests times, one after the
   other. The list holds --calls calls (rows made through the store, as the worker makes them).
   Reports p50/p95/max latency and whether the job was still transcribing at the end.
2. Upload memory: a --upload-gb WAV (48 kHz stereo, silence; sparse on disk) is streamed to
   ``POST /api/calls`` in chunks, while the server process's resident memory is sampled every
   20 ms. Reports the peak rise over the memory before the upload. The call is deleted at once.

3. Insights: --insight-items customer needs (20 topics said 8 ways) are stored in finished
   calls with their embeddings, as the worker stores a call's items, and
   ``GET /api/insights/needs`` is requested --insight-requests times. Printed beside the same
   measurement made before embeddings were stored (``BEFORE_NEEDS``).

Goals (issue 6): p95 < 100 ms over 200 requests; memory rise < 50 MB for a 1 GB upload; needs
insight p95 < 300 ms with 5,000 items. ``--only insights`` runs the third part alone.
Prints a table and writes JSON (--out). Example:

    python scripts/bench_api.py --model tiny.en --out bench-api.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "tests" / "data"
CLIPS = ["jfk.flac", "fleurs-en-000.ogg", "fleurs-en-001.ogg", "fleurs-en-002.ogg"]
BOUNDARY = "bench-api-boundary"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def long_call(path: Path, minutes: float) -> Path:
    """Real speech: the clips, one after another with a short pause, up to ``minutes``."""
    from assistant.media import SAMPLE_RATE, load_audio
    from tests.helpers import write_wav

    pause = np.zeros(SAMPLE_RATE // 2, np.float32)
    pieces: list[np.ndarray] = []
    total = 0
    target = int(minutes * 60 * SAMPLE_RATE)
    clips = [load_audio(DATA / name).mono for name in CLIPS]
    while total < target:
        for clip in clips:
            pieces += [clip, pause]
            total += len(clip) + len(pause)
    return write_wav(path, np.concatenate(pieces)[:target])


def sparse_wav(path: Path, size_bytes: int, rate: int = 48_000, channels: int = 2) -> Path:
    """A valid PCM WAV of ``size_bytes`` of silence, written sparse (no disk blocks for zeros)."""
    data = size_bytes - 44
    header = b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16)
    header += b"data" + struct.pack("<I", data)
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(size_bytes)
    return path


def _head(path: Path) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{path.name}"\r\nContent-Type: audio/wav\r\n\r\n'
    ).encode()


TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


def multipart_stream(path: Path, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The multipart body, read from disk a chunk at a time (the client holds one chunk)."""
    yield _head(path)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            yield block
    yield TAIL


def multipart_size(path: Path) -> int:
    return len(_head(path)) + path.stat().st_size + len(TAIL)


def seed_calls(url: str, n: int) -> str:
    """A user with ``n`` finished calls (rows as the worker stores them); returns the token."""
    from assistant.store import Database
    from assistant.store.calls import NewCall, create_call
    from assistant.store.tables import Segment
    from assistant.store.users import create_user, issue_token

    db = Database(url)
    db.migrate()
    with db.session() as session:
        user = create_user(session, "bench", "admin")
        token = issue_token(session, user)
        for i in range(n):
            new = NewCall(
                f"{i:064x}",
                f"call-{i}.m4a",
                1000,
                "mov,mp4,m4a,3gp,3g2,mj2",
                "audio",
                1800.0,
                customer=f"Customer {i % 37}",
            )
            call, job, _ = create_call(session, user, new)
            call.status, job.status, job.progress = "done", "done", 1.0
            session.add_all(
                Segment(
                    call_id=call.id,
                    position=k,
                    start_s=k * 5.0,
                    end_s=k * 5.0 + 4.5,
                    text=f"segment {k} of call {i}",
                )
                for k in range(20)
            )
    db.dispose()
    return token


class Server:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=open(self.log, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise SystemExit(f"the server did not start; see {self.log}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


NEED_TOPICS = [
    "an integration with Salesforce",
    "an integration with HubSpot",
    "single sign-on with Azure AD",
    "transcripts in German",
    "an export to Excel",
    "a dashboard for the whole team",
    "data hosted in the EU",
    "an on-premise installation",
    "a mobile app for the field team",
    "role-based access for managers",
    "an API to pull the reports",
    "a Slack notification after each call",
    "a Microsoft Teams integration",
    "coaching tips for new reps",
    "automatic follow-up emails",
    "a monthly invoice instead of a yearly one",
    "training for twenty new hires",
    "a way to tag competitors",
    "forecasts per quarter",
    "an audit log for compliance",
]
NEED_FRAMES = [
    "We need {}.",
    "Do you offer {}?",
    "For us {} is a must.",
    "Our team keeps asking for {}.",
    "Without {} we cannot sign.",
    "Is {} on your roadmap?",
    "We would pay more for {}.",
    "Last year's vendor never gave us {}.",
]


def need_texts(n: int) -> list[str]:
    """``n`` customer needs: 20 topics said 8 ways, with a detail so few texts repeat."""
    texts = []
    for i in range(n):
        topic = NEED_TOPICS[i % len(NEED_TOPICS)]
        frame = NEED_FRAMES[(i // len(NEED_TOPICS)) % len(NEED_FRAMES)]
        texts.append(frame.format(topic) + f" (team of {5 + i % 97} people, site {i % 13})")
    return texts


def seed_needs(url: str, n: int, per_call: int = 20) -> str:
    """``n`` customer-need items in finished calls of an admin, stored as the worker stores a
    call's items (with their sentence embeddings); returns the admin's token."""
    from assistant.store import Database
    from assistant.store.calls import NewCall, create_call
    from assistant.store.insights import embeddings_of
    from assistant.store.tables import Item
    from assistant.store.users import create_user, issue_token

    db = Database(url)
    db.migrate()
    texts = need_texts(n)
    embeddings = embeddings_of(texts)
    with db.session() as session:
        user = create_user(session, "insights", "admin")
        token = issue_token(session, user)
        for c in range(0, n, per_call):
            new = NewCall(f"e{c:063x}", f"need-{c}.m4a", 1000, "wav", "audio", 600.0)
            call, job, _ = create_call(session, user, new)
            call.status, job.status, job.progress = "done", "done", 1.0
            call.customer = f"Customer {c // per_call % 61}"
            rows = [
                Item(
                    call_id=call.id,
                    position=k,
                    kind="customer_need",
                    text=text,
                    quote=text,
                    start_s=k * 20.0,
                    end_s=k * 20.0 + 5.0,
                    role="customer",
                    confidence=0.9,
                    embedding=embeddings[c + k],
                )
                for k, text in enumerate(texts[c : c + per_call])
            ]
            session.add_all(rows)
    db.dispose()
    return token


# The needs insight before item embeddings were stored: this script's insights part run at
# commit ed31820, where each request embedded all 5,000 items inside the web process and grouped
# them comparing each item with every theme so far. Measured on the 2-core machine the numbers
# of a run today are measured on, while other work ran on it (load average about 8); only 2
# timed requests after the first, as each took minutes.
BEFORE_NEEDS = {
    "commit": "ed31820",
    "items": 5000,
    "requests": 2,
    "p50_ms": 126100.65,
    "p95_ms": 139550.35,
    "max_ms": 139550.35,
    "first_ms": 310946.8,
}


def insight_latency(server: Server, headers: dict[str, str], requests: int) -> dict[str, object]:
    """``GET /api/insights/needs`` one request after another (the first one, which loads the
    sentence encoder, is timed apart as ``first_ms``)."""
    times_ms = []
    with httpx.Client(base_url=server.url, headers=headers, timeout=600) as client:
        started = time.perf_counter()
        first = client.get("/api/insights/needs")
        first_ms = (time.perf_counter() - started) * 1000
        first.raise_for_status()
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get("/api/insights/needs")
            times_ms.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    body = first.json()
    return {
        "requests": requests,
        **summary(times_ms),
        "first_ms": round(first_ms, 1),
        "items": body["count"],
        "themes": len(body["themes"]),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def timed_gets(server: Server, headers: dict[str, str], requests: int) -> list[float]:
    times_ms = []
    with httpx.Client(base_url=server.url, headers=headers) as client:
        client.get("/api/calls")
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get("/api/calls", params={"limit": 50})
            times_ms.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    return times_ms


def summary(times_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(times_ms), 2),
        "p95_ms": round(percentile(times_ms, 95), 2),
        "max_ms": round(max(times_ms), 2),
    }


def latency_while_transcribing(
    server: Server, headers: dict[str, str], call: Path, requests: int
) -> dict[str, object]:
    idle = summary(timed_gets(server, headers, requests))
    with open(call, "rb") as fh:
        r = httpx.post(
            f"{server.url}/api/calls",
            headers=headers,
            files={"file": (call.name, fh)},
            timeout=120,
        )
    r.raise_for_status()
    job_id = r.json()["job"]["id"]

    def job() -> dict[str, object]:
        response = httpx.get(f"{server.url}/api/jobs/{job_id}", headers=headers)
        return response.json()  # type: ignore[no-any-return]

    deadline = time.monotonic() + 600
    while job()["stage"] != "transcribe":
        if time.monotonic() > deadline or job()["status"] in ("done", "failed"):
            raise SystemExit(f"the job never reached the transcribe stage: {job()}")
        time.sleep(0.2)
    load_before = os.getloadavg()[0]
    during = timed_gets(server, headers, requests)
    end = job()
    return {
        "requests": requests,
        **summary(during),
        "idle": idle,
        "job_stage_at_end": end["stage"],
        "job_status_at_end": end["status"],
        "still_transcribing": end["stage"] == "transcribe" and end["status"] == "running",
        "load_average_1min": round(max(load_before, os.getloadavg()[0]), 2),
    }


def upload_memory(server: Server, headers: dict[str, str], path: Path) -> dict[str, object]:
    assert server.proc is not None
    proc = psutil.Process(server.proc.pid)
    before = proc.memory_info().rss
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    response = httpx.post(
        f"{server.url}/api/calls",
        headers={
            **headers,
            "content-type": f"multipart/form-data; boundary={BOUNDARY}",
            "content-length": str(multipart_size(path)),
        },
        content=multipart_stream(path),
        timeout=600,
    )
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    body = response.json()
    if response.status_code in (200, 202):
        httpx.delete(f"{server.url}/api/calls/{body['call']['id']}", headers=headers)
    return {
        "size_bytes": path.stat().st_size,
        "status": response.status_code,
        "detail": body.get("detail"),
        "seconds": round(seconds, 2),
        "mb_per_s": round(path.stat().st_size / 1e6 / seconds, 1),
        "rss_before_mb": round(before / 1e6, 1),
        "rss_peak_mb": round(peak / 1e6, 1),
        "rss_rise_mb": round((peak - before) / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="tiny.en", help="Whisper model the worker uses")
    parser.add_argument("--requests", type=int, default=200, help="GET /api/calls requests")
    parser.add_argument("--calls", type=int, default=200, help="Calls in the list")
    parser.add_argument("--call-minutes", type=float, default=4.0, help="Length of the call")
    parser.add_argument("--upload-gb", type=float, default=1.0, help="Size of the big upload")
    parser.add_argument(
        "--insight-items", type=int, default=5000, help="Customer needs for the insights timing"
    )
    parser.add_argument(
        "--insight-requests", type=int, default=20, help="GET /api/insights/needs requests"
    )
    parser.add_argument(
        "--only",
        choices=["all", "latency", "upload", "insights"],
        default="all",
        help="Run one part only",
    )
    parser.add_argument("--database-url", default="", help="Default: SQLite in a temp folder")
    parser.add_argument("--out", type=Path, default=Path("bench-api.json"), help="JSON results")
    args = parser.parse_args()

    run = {part: args.only in ("all", part) for part in ("latency", "upload", "insights")}
    latency: dict[str, object] = {}
    memory: dict[str, object] = {}
    needs: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp_name:
        tmp = Path(tmp_name)
        url = args.database_url or f"sqlite:///{tmp / 'data' / 'assistant.db'}"
        token = seed_calls(url, args.calls)
        headers = {"Authorization": f"Bearer {token}"}
        needs_headers = {}
        if run["insights"]:
            needs_headers = {"Authorization": f"Bearer {seed_needs(url, args.insight_items)}"}
        env = {
            **os.environ,
            "ASSISTANT_DATA_DIR": str(tmp / "data"),
            "ASSISTANT_DATABASE_URL": url,
            "ASSISTANT_MODEL": args.model,
            "ASSISTANT_LANGUAGE": "en",
            "ASSISTANT_WORKERS": "1",
            "ASSISTANT_MAX_UPLOAD_BYTES": str(int(args.upload_gb * 1e9) + 10_000_000),
            "PYTHONPATH": str(ROOT),
        }
        server = Server(env, free_port(), tmp / "server.log")
        server.start()
        try:
            if run["insights"]:
                needs = insight_latency(server, needs_headers, args.insight_requests)
            if run["latency"]:
                call = long_call(tmp / "long-call.wav", args.call_minutes)
                latency = latency_while_transcribing(server, headers, call, args.requests)
            if run["upload"]:
                big = sparse_wav(tmp / "big.wav", int(args.upload_gb * 1e9))
                memory = upload_memory(server, headers, big)
        finally:
            server.stop()

    goals: dict[str, bool] = {}
    if latency:
        goals["p95_under_100ms"] = latency["p95_ms"] < 100  # type: ignore[operator]
    if memory:
        goals["rise_under_50mb"] = memory["rss_rise_mb"] < 50  # type: ignore[operator]
    if needs:
        goals["needs_p95_under_300ms"] = needs["p95_ms"] < 300  # type: ignore[operator]
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "model": args.model,
        "database": "postgresql" if args.database_url else "sqlite",
        "calls_listed": args.calls,
        "latency": latency,
        "upload": memory,
        "insights_needs": needs,
        "insights_needs_before": BEFORE_NEEDS if needs else {},
        "goals": goals,
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    if latency:
        print(f"GET /api/calls while a call is transcribed ({args.calls} calls, {args.model}):")
        print(f"  {'requests':<22}{latency['requests']}")
        for key in ("p50_ms", "p95_ms", "max_ms", "still_transcribing", "load_average_1min"):
            print(f"  {key:<22}{latency[key]}")
        print(f"  {'idle (no job)':<22}{latency['idle']}")
    if memory:
        print(f"Upload of {args.upload_gb:g} GB (server process memory):")
        for key in ("status", "seconds", "mb_per_s", "rss_before_mb", "rss_peak_mb", "rss_rise_mb"):
            print(f"  {key:<22}{memory[key]}")
    if needs:
        print(
            f"GET /api/insights/needs ({needs['items']} customer needs, {needs['themes']} themes):"
        )
        before = f"before ({BEFORE_NEEDS['commit']}, {BEFORE_NEEDS['items']} items)"
        print(f"  {'':<22}{before:<32}now (stored embeddings)")
        for key in ("requests", "p50_ms", "p95_ms", "max_ms", "first_ms"):
            print(f"  {key:<22}{BEFORE_NEEDS[key]!s:<32}{needs[key]}")
        print("  before: measured with this script at that commit (BEFORE_NEEDS); now: this run")
    print(f"goals: {goals}  (written to {args.out})")


if __name__ == "__main__":
    main()
