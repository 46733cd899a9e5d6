"""Batch throughput: hours of audio analysed per hour of wall time, by queue and worker count.

Runs the same batch of real recordings (the clips in tests/data, plus copies at other gains when
--copies asks for a bigger batch: new content, so no result is reused) through:

  embedded         1 and 2 worker processes (``python -m assistant.jobs.worker``, as in serve)
  celery           1 and 2 Celery nodes of one process each (``assistant worker``) on Redis
  celery-prefork   one Celery node with 1 and 2 processes (``assistant worker --concurrency N``)

Every process but those of one prefork node runs in its own session. On a shared machine with
the kernel's autogroup scheduling on (/proc/sys/kernel/sched_autogroup_enabled), CPU time is
shared per session, so under load from other programs a prefork node's processes split one share
between them; on a dedicated worker machine the two layouts are the same.

Each run gets a fresh database, so nothing is reused from an earlier run; each worker process
first analyses a warm-up recording (model loading is not counted), then the batch is registered,
submitted and timed until its last job ends. A redis-server on a free port is started unless
--broker-url is given; the database is SQLite in a temporary folder unless --database-url names a
PostgreSQL server (a fresh database is created on it for each run).

Prints a table and writes JSON (--out). Example:

    python scripts/bench_batch.py --model tiny.en --out bench_batch.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "tests" / "data"
CLIPS = [
    "jfk.flac",
    "testing_routine.wav",
    "another_engineer.wav",
    "another_door.wav",
    "i_tell_you.wav",
    "fleurs-en-000.ogg",
    "fleurs-en-001.ogg",
    "fleurs-en-002.ogg",
]
WARMUP = "fleurs-en-003.ogg"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_variant(source: Path, target: Path, gain: float) -> Path:
    from assistant.media import MediaOptions, load_audio
    from tests.helpers import write_wav

    audio = load_audio(source, MediaOptions()).mono
    return write_wav(target, np.clip(audio * gain, -1, 1))


def make_batch(folder: Path, copies: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name in CLIPS:
        files.append(Path(shutil.copy(DATA / name, folder / name)))
        for k in range(1, copies):
            files.append(write_variant(DATA / name, folder / f"{k}-{name}.wav", 1.0 - 0.07 * k))
    return files


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        sys.exit("error: redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [
            *(redis_server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)),
            *("--appendonly", "yes", "--save", "", "--logfile", str(folder / "redis.log")),
        ]
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.RedisError:
            time.sleep(0.1)
    return proc, f"redis://127.0.0.1:{port}/0"


def fresh_database(base: str | None, folder: Path) -> tuple[str, object]:
    if not base:
        return f"sqlite:///{folder / 'assistant.db'}", lambda: None
    from assistant.store.db import scratch_postgres_database

    return scratch_postgres_database(base, "assistant_bench")


def start_workers(layout: str, workers: int, env: dict[str, str], log: Path) -> list:
    """Each process in its own session (as separate services or machines would be), except
    ``celery-prefork``: one Celery node whose ``workers`` processes share one session."""
    out = open(log, "ab")  # noqa: SIM115 (lives as long as the workers)
    assistant = str(BIN / "assistant")
    if layout == "celery-prefork":
        commands = [[assistant, "worker", "--concurrency", str(workers), "--name", "bench@%h"]]
    elif layout == "celery":
        commands = [
            [assistant, "worker", "--concurrency", "1", "--name", f"bench{i}@%h"]
            for i in range(workers)
        ]
    else:
        commands = [
            [sys.executable, "-m", "assistant.jobs.worker", "--index", str(i)]
            for i in range(workers)
        ]
    return [
        subprocess.Popen(cmd, env=env, stdout=out, stderr=out, start_new_session=True)
        for cmd in commands
    ]


def stop_workers(procs: list) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def used_processes(db, job_ids: list[int]) -> int:
    """How many worker processes ran the batch's jobs (a worker id is host:pid:index)."""
    from sqlalchemy import select

    from assistant.store.tables import Job

    with db.session() as session:
        workers = session.scalars(select(Job.worker).where(Job.id.in_(job_ids))).all()
    return len({w.rsplit(":", 1)[0] for w in workers if w})


def run_one(
    queue_name: str,
    workers: int,
    files: list[Path],
    warmups: list[Path],
    args: argparse.Namespace,
    broker_url: str,
    tmp: Path,
) -> dict:
    from assistant.jobs import get_queue
    from assistant.jobs.intake import batch_owner, job_states, register
    from assistant.settings import Settings
    from assistant.store import Database

    folder = tmp / f"{queue_name}-{workers}"
    folder.mkdir()
    url, drop = fresh_database(args.database_url, folder)
    values = {
        "data_dir": str(folder / "data"),
        "database_url": url,
        "queue": "embedded" if queue_name == "embedded" else "celery",
        "broker_url": broker_url,
        "broker_queue": f"bench-{queue_name}-{workers}",
        "model": args.model,
        "language": args.language,
        "cpu_threads": str(args.cpu_threads),
        "job_poll_s": "0.2",
    }
    env = {**os.environ, **{f"ASSISTANT_{k.upper()}": v for k, v in values.items()}}
    settings = Settings(**values)  # type: ignore[arg-type]
    db = Database(url)
    db.migrate()
    owner = batch_owner(db, None)
    queue = get_queue(settings.queue, settings)
    procs = start_workers(queue_name, workers, env, folder / "workers.log")

    def wait(job_ids: list[int]) -> dict:
        while True:
            states = job_states(db, job_ids)
            if all(s.status in ("done", "failed") for s in states.values()):
                return states
            if any(p.poll() is not None for p in procs):
                sys.exit(f"error: a worker exited; see {folder / 'workers.log'}")
            time.sleep(0.1)

    try:
        # Warm-up jobs, a round at a time, until every worker process has run one (and so has
        # loaded its models): which process takes which job is up to the queue.
        warm: list[int] = []
        rounds = [warmups[i : i + workers] for i in range(0, len(warmups), workers)]
        for batch in rounds:
            ids = [register(db, settings, owner, path).job_id for path in batch]
            for job_id in ids:
                queue.submit(job_id)
            wait(ids)
            warm += ids
            if used_processes(db, warm) >= workers:
                break
        started = time.perf_counter()
        entries = [register(db, settings, owner, path) for path in files]
        for entry in entries:
            queue.submit(entry.job_id)
        states = wait([e.job_id for e in entries])
        wall_s = time.perf_counter() - started
        processes = used_processes(db, [e.job_id for e in entries])
    finally:
        stop_workers(procs)
        db.dispose()
        drop()  # type: ignore[operator]
    audio_s = sum(e.duration_s or 0.0 for e in entries)
    failed = [s.error for s in states.values() if s.status == "failed"]
    return {
        "queue": queue_name,
        "workers": workers,
        "recordings": len(entries),
        "failed": len(failed),
        "processes_used": processes,
        "errors": failed[:3],
        "audio_s": round(audio_s, 1),
        "wall_s": round(wall_s, 2),
        "audio_hours_per_hour": round(audio_s / wall_s, 2),
        "per_worker_audio_hours_per_hour": round(audio_s / wall_s / workers, 2),
        "mean_job_s": round(
            float(np.mean([s.seconds for s in states.values() if s.seconds is not None] or [0])), 2
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="tiny.en", help="Whisper model [tiny.en]")
    parser.add_argument("--language", default="en", help="Language of the clips [en]")
    parser.add_argument("--cpu-threads", type=int, default=1, help="Threads per worker [1]")
    parser.add_argument("--copies", type=int, default=1, help="Versions of each clip [1: 8 files]")
    parser.add_argument("--workers", default="1,2", help="Worker process counts [1,2]")
    parser.add_argument(
        "--queues",
        default="embedded,celery,celery-prefork",
        help="Layouts: embedded, celery (one node per process), celery-prefork (one node, "
        "--concurrency N) [all three]",
    )
    parser.add_argument("--broker-url", default=None, help="Redis [a redis-server started here]")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server [SQLite]")
    parser.add_argument("--out", type=Path, default=Path("bench_batch.json"), help="JSON output")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]
    queues = [q.strip() for q in args.queues.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as name:
        tmp = Path(name)
        files = make_batch(tmp / "batch", args.copies)
        warmups = [
            write_variant(DATA / WARMUP, tmp / f"warm-{i}.wav", 0.3 + 0.08 * i)
            for i in range(4 * max(counts))
        ]
        redis_proc = None
        broker_url = args.broker_url
        if broker_url is None and any(q.startswith("celery") for q in queues):
            (tmp / "redis").mkdir()
            redis_proc, broker_url = start_redis(tmp / "redis")
        runs = []
        try:
            for queue_name in queues:
                for workers in counts:
                    print(f"running {queue_name} with {workers} worker(s)...", file=sys.stderr)
                    runs.append(
                        run_one(queue_name, workers, files, warmups, args, broker_url or "", tmp)
                    )
        finally:
            if redis_proc is not None:
                redis_proc.terminate()
                redis_proc.wait()

    print(f"\n{len(files)} recordings, model {args.model}, {os.cpu_count()} CPU cores\n")
    header = (
        f"{'layout':<14} {'workers':>7} {'audio s':>8} {'wall s':>7} {'audio h/h':>9} "
        f"{'per worker':>10} {'procs':>5} {'failed':>6}"
    )
    autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled")
    load = os.getloadavg()[0]
    grouping = autogroup.read_text().strip() if autogroup.exists() else "n/a"
    print(f"load average {load:.1f} (other programs included); autogroup scheduling {grouping}\n")
    print(header)
    print("-" * len(header))
    for r in runs:
        print(
            f"{r['queue']:<14} {r['workers']:>7} {r['audio_s']:>8.1f} {r['wall_s']:>7.1f} "
            f"{r['audio_hours_per_hour']:>9.2f} {r['per_worker_audio_hours_per_hour']:>10.2f} "
            f"{r['processes_used']:>5} {r['failed']:>6}"
        )
    celery = [r for r in runs if r["queue"].startswith("celery")] or runs
    best = max(celery, key=lambda r: r["audio_hours_per_hour"])
    per_machine = best["audio_hours_per_hour"]
    note = (
        f"Projection: one machine like this one does {per_machine:.1f} hours of audio per hour "
        f"with {best['workers']} worker process(es) (one per core). Workers share nothing but "
        "the database, Redis and the recordings folder, and a job costs those a few queries and "
        f"one file read, so N such machines give about N x {per_machine:.1f} h/h: "
        + ", ".join(f"{n} machines ~{n * per_machine:.0f} h/h" for n in (2, 5, 10))
        + ". A day of 300 one-hour calls needs about "
        f"{300 / (per_machine * 24):.1f} machine(s) running around the clock"
        f" or {300 / (per_machine * 8):.1f} working 8 hours."
    )
    print("\n" + note)
    result = {
        "benchmark": "batch throughput by queue and worker processes",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_1min_at_end": os.getloadavg()[0],
        },
        "model": args.model,
        "recordings": [p.name for p in files],
        "runs": runs,
        "projection": note,
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
