"""A worker: claims jobs, runs the pipeline on the recording, stores the results.

Runs as its own process (``python -m assistant.jobs.worker``), started and restarted by
``assistant serve``, so transcription never competes with the web process for the GIL. While a job
runs, a thread heartbeats every ``job_heartbeat_s``; progress is written per stage. Errors in the
input, and the project's errors that are not ``retryable`` (a missing model, a bad option), fail
the job at once; retryable errors and unexpected exceptions are retried with backoff up to
``job_max_attempts``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import select

from assistant import PIPELINE_VERSION
from assistant.errors import UNEXPECTED, AssistantError, InputError, ModelError
from assistant.jobs import queue, webhooks
from assistant.pipeline import STAGES, Pipeline, StageProgress, pipeline_options
from assistant.report import CallReport
from assistant.settings import Settings, get_settings
from assistant.store import calls as call_store
from assistant.store import insights, voice
from assistant.store.db import Database
from assistant.store.tables import Call, Job, User, utcnow

log = logging.getLogger("assistant.worker")

PROGRESS_EVERY_S = 0.5
RETENTION_EVERY_S = 3600.0
BACKFILL_EVERY_S = 60.0
OVERDUE_EVERY_S = 600.0
WORKER_NICENESS = 10


def worker_id(index: int | str = 0) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{index}"


def backoff_s(attempts: int) -> float:
    return min(5.0 * 2 ** max(attempts - 1, 0), 600.0)


class Stop(Exception):
    """Raised in the worker's main thread when it is told to stop."""


# How a call's recording becomes a report: (the recording, the job's options, progress).
Analyse = Callable[[Path, dict[str, Any], StageProgress], CallReport]


def analyse_with_pipeline(settings: Settings) -> Analyse:
    """The default: the pipeline with the settings and the job's language and call date."""

    def analyse(path: Path, options: dict[str, Any], progress: StageProgress) -> CallReport:
        day = options.get("call_date")
        call_date = date.fromisoformat(day) if day else None
        language = options.get("language")
        return Pipeline(pipeline_options(settings, language=language, call_date=call_date)).run(
            path, progress
        )

    return analyse


class Schedule:
    """When each periodic chore last ran (monotonic seconds): a chore is due once its interval
    has passed since then; the first time, it is due at once."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}

    def due(self, chore: str, every_s: float, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now - self.last.get(chore, float("-inf")) <= every_s:
            return False
        self.last[chore] = now
        return True

    def again(self, chore: str) -> None:
        """Run ``chore`` at the next pass (it has more to do)."""
        self.last.pop(chore, None)


def housekeeping(db: Database, settings: Settings, schedule: Schedule) -> None:
    """What every worker (and the Celery sweeper) does between jobs, each chore at its pace:
    send due webhooks; retention; the overdue events of action items; missing embeddings."""
    webhooks.deliver_due(db, settings.webhook_timeout_s)
    if settings.retention_days and schedule.due("retention", RETENTION_EVERY_S):
        with db.session() as session:
            n = call_store.expire_recordings(
                session, settings.recordings_dir, settings.retention_days
            )
        if n:
            log.info("retention: deleted the recordings of %d call(s)", n)
    if schedule.due("overdue", OVERDUE_EVERY_S):
        with db.session() as session:
            webhooks.enqueue_overdue(session, utcnow().date())
    backfill = schedule.due("backfill", BACKFILL_EVERY_S)
    if backfill and backfill_embeddings(db) == insights.BACKFILL_BATCH:
        schedule.again("backfill")  # more to do: the next pass goes on


def backfill_embeddings(db: Database) -> int:
    """Embed one batch of items that have no stored embedding yet (from before embeddings were
    stored, or written without the encoder); returns how many. Best effort: insights requests
    embed a few missing ones themselves."""
    try:
        with db.session() as session:
            n = insights.embed_missing(session)
    except ModelError:
        return 0
    except Exception:
        log.warning("insights: storing item embeddings failed", exc_info=True)
        return 0
    if n:
        log.info("insights: stored the embeddings of %d item(s)", n)
    return n


class Worker:
    """Claims and runs jobs. Every queue runs jobs through here: the embedded queue's worker
    processes, a Celery task (``analyse`` with its time limit) and the local batch
    (``analyse`` with the batch's loaded pipeline)."""

    def __init__(
        self, db: Database, settings: Settings, name: str, analyse: Analyse | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.name = name
        self.analyse = analyse or analyse_with_pipeline(settings)
        self.stopping = threading.Event()
        self.schedule = Schedule()

    # -- the loop ------------------------------------------------------------------------------

    def run_forever(self, parent_pid: int | None = None) -> None:
        log.info("worker %s polling %s", self.name, self.db.engine.url.render_as_string())
        while not self.stopping.is_set():
            if parent_pid is not None and os.getppid() != parent_pid:
                log.warning("worker %s: the server is gone; stopping", self.name)
                return
            worked = self.run_once()
            housekeeping(self.db, self.settings, self.schedule)
            if not worked:
                self.stopping.wait(self.settings.job_poll_s)

    def run_once(self) -> bool:
        """Claim and run one job; False when the queue had nothing runnable."""
        queue.requeue_stale(self.db, self.settings.job_stale_after_s)
        job_id = queue.claim(self.db, self.name)
        if job_id is None:
            return False
        try:
            self.process(job_id)
        except Stop:
            queue.release(self.db, job_id, self.name)
            raise
        return True

    # -- one job -------------------------------------------------------------------------------

    def process(self, job_id: int) -> None:
        with self.db.session() as session:
            job = session.get(Job, job_id)
            if job is None:
                return
            options = dict(job.options or {})
            voice_of = job.user_id if job.kind == "voice" else None
            call = session.get(Call, job.call_id) if job.call_id is not None else None
            if call is not None:
                sha256, filename, call_id = call.sha256, call.filename, call.id
                same_as = (call.call_date, call.language_hint)
        if voice_of is not None:
            self.enroll(job_id, voice_of, options)
            return
        if call is None:
            return
        beat = _Heartbeat(self.db, job_id, self.name, self.settings.job_heartbeat_s)
        beat.start()
        try:
            path = call_store.recording_path(self.settings.recordings_dir, sha256)
            report = self.reuse(sha256, call_id, *same_as) or self.analyse(
                path, options, beat.progress
            )
            report = report.model_copy(
                update={"source": report.source.model_copy(update={"path": filename})}
            )
            self.finish(job_id, call_id, report, item_embeddings(report))
        except Stop:
            raise
        except InputError as exc:
            message = self.shown(str(exc), sha256, filename)
            self.fail(job_id, call_id, message, retry=False, kind=exc.kind)
        except AssistantError as exc:
            message = self.shown(str(exc), sha256, filename)
            self.fail(job_id, call_id, message, exc.retryable, kind=exc.kind)
        except Exception as exc:
            log.exception("job %s failed", job_id)
            message = self.shown(f"unexpected {type(exc).__name__}: {exc}", sha256, filename)
            self.fail(job_id, call_id, message, retry=True, kind=UNEXPECTED)
        finally:
            beat.stop()

    def shown(self, message: str, sha256: str, filename: str, path: Path | None = None) -> str:
        """A failure as the people who read it see it: the recording is named by the file they
        uploaded, never by where (or under which hash or name) the server keeps it."""
        name = filename or "the recording"
        recordings = self.settings.recordings_dir
        if path is None:
            path = call_store.recording_path(recordings, sha256)
        message = message.replace(str(path), name).replace(path.name, name)
        message = message.replace(str(recordings), "the recordings folder")
        message = message.replace(str(self.settings.data_dir), "the data folder")
        return message.replace(sha256, name) if sha256 else message

    def enroll(self, job_id: int, user_id: int, options: dict) -> None:
        """A voice job: the user's profile from their recording (``assistant reps enroll`` does
        the same from the command line). The recording is deleted once the job has ended."""
        from assistant.diarize.profiles import ProfileStore, enroll
        from assistant.media import MediaOptions

        filename = str(options.get("filename") or "the recording")
        path = voice.enrollment_path(self.settings.recordings_dir, str(options.get("file")))
        with self.db.session() as session:
            user = session.get(User, user_id)
            name = user.name if user else None
        beat = _Heartbeat(self.db, job_id, self.name, self.settings.job_heartbeat_s)
        beat.start()
        ended = True
        try:
            if name is None:
                raise InputError("the user was deleted before their voice was enrolled")
            beat.progress("voice", 0.0)
            media = MediaOptions(max_duration_s=self.settings.max_duration_s)
            profile = enroll(name, [path], media, user_id=user_id)
            profiles = ProfileStore(self.settings.profiles_dir)
            profiles.adopt(user_id, name)  # an older profile under the name is replaced too
            profiles.save(profile)
            with self.db.session() as session:
                job = session.get(Job, job_id)
                if job is not None and job.worker == self.name:
                    job.status, job.stage, job.progress = "done", None, 1.0
                    job.finished_at = utcnow()
                    job.options = {**(job.options or {}), "speech_s": round(profile.speech_s, 1)}
        except Stop:
            ended = False
            raise
        except InputError as exc:
            message = self.shown(str(exc), "", filename, path)
            self.fail(job_id, None, message, retry=False, kind=exc.kind)
        except AssistantError as exc:
            message = self.shown(str(exc), "", filename, path)
            ended = not self.fail(job_id, None, message, exc.retryable, kind=exc.kind)
        except Exception as exc:
            log.exception("job %s failed", job_id)
            message = self.shown(f"unexpected {type(exc).__name__}: {exc}", "", filename, path)
            ended = not self.fail(job_id, None, message, retry=True, kind=UNEXPECTED)
        finally:
            beat.stop()
            if ended:
                path.unlink(missing_ok=True)

    def reuse(
        self, sha256: str, call_id: int, call_date: date | None, language: str | None
    ) -> CallReport | None:
        """The same recording already analysed by this pipeline version with the same options
        (for another upload): its report, instead of running the models again. A different call
        date or language makes a different report (due dates are read from the call date)."""
        with self.db.session() as session:
            other = session.scalar(
                select(Call).where(
                    Call.sha256 == sha256,
                    Call.id != call_id,
                    Call.status == "done",
                    Call.pipeline_version == PIPELINE_VERSION,
                    Call.report.is_not(None),
                    Call.call_date.is_(None) if call_date is None else Call.call_date == call_date,
                    Call.language_hint.is_(None)
                    if language is None
                    else Call.language_hint == language,
                )
            )
            return CallReport.model_validate(other.report) if other else None

    def finish(
        self,
        job_id: int,
        call_id: int,
        report: CallReport,
        embeddings: dict[int, bytes] | None = None,
    ) -> None:
        with self.db.session() as session:
            job = session.get(Job, job_id)
            call = session.get(Call, call_id)
            if job is None or call is None:
                return  # deleted while it ran: nothing to keep
            if job.status != "running" or job.worker != self.name:
                log.warning("job %s was taken over; dropping this run's results", job_id)
                return
            call_store.save_report(session, call, report, embeddings)
            job.status, job.stage, job.progress = "done", None, 1.0
            job.finished_at = utcnow()
            webhooks.enqueue(session, "call.done", call)

    def fail(
        self, job_id: int, call_id: int | None, message: str, retry: bool, kind: str = UNEXPECTED
    ) -> bool:
        """Record a failure (of a call's job, or of a voice job with no call) with its ``kind``
        (``assistant.errors``); True when the job goes back to the queue for another attempt."""
        with self.db.session() as session:
            job = session.get(Job, job_id)
            call = session.get(Call, call_id) if call_id is not None else None
            if job is None or (call_id is not None and call is None) or job.worker != self.name:
                return False
            job.error, job.error_kind = message, kind
            if retry and job.attempts < job.max_attempts:
                job.status, job.worker = "queued", None
                job.run_after = utcnow() + timedelta(seconds=backoff_s(job.attempts))
                if call is not None:
                    call.status = "queued"
                return True
            job.status, job.finished_at = "failed", utcnow()
            if call is not None:
                call.status, call.error = "failed", message
                webhooks.enqueue(session, "call.failed", call)
            return False


def item_embeddings(report: CallReport) -> dict[int, bytes]:
    """The stored embeddings of a report's needs and objections, by item id, for insights
    (the web process never embeds a call's items). Without the encoder installed, none: they
    are filled in later."""
    items = [i for i in report.items if i.kind in insights.INSIGHT_KINDS]
    if not items:
        return {}
    try:
        blobs = insights.embeddings_of([i.text for i in items])
    except ModelError:
        log.warning("insights: no sentence encoder; item embeddings are left for later")
        return {}
    return {i.id: blob for i, blob in zip(items, blobs, strict=True)}


class _Heartbeat:
    """Beats every ``every_s`` in a thread, and writes stage progress at most twice a second."""

    def __init__(self, db: Database, job_id: int, worker: str, every_s: float) -> None:
        self.db, self.job_id, self.worker, self.every_s = db, job_id, worker, every_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._last = 0.0
        self._stage: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._done.wait(self.every_s):
            try:
                queue.heartbeat(self.db, self.job_id, self.worker)
            except Exception:  # a missed beat is retried on the next tick
                log.warning("heartbeat for job %s failed", self.job_id, exc_info=True)

    def progress(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        if stage == self._stage and now - self._last < PROGRESS_EVERY_S and fraction < 1.0:
            return
        self._stage, self._last = stage, now
        index = STAGES.index(stage) if stage in STAGES else 0
        overall = (index + min(max(fraction, 0.0), 1.0)) / len(STAGES)
        queue.heartbeat(self.db, self.job_id, self.worker, stage=stage, progress=overall)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run queued jobs (started by `assistant serve`).")
    parser.add_argument("--index", default="0", help="Number of this worker, for its id")
    parser.add_argument("--parent", type=int, default=None, help="Stop when this process ends")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(message)s")
    settings = get_settings()
    db = Database(settings.resolved_database_url)
    worker = Worker(db, settings, worker_id(args.index))
    signal.signal(signal.SIGTERM, _raise_stop)
    # Analysis yields the CPU to the web process, so the API answers quickly during a job.
    os.nice(WORKER_NICENESS)
    try:
        worker.run_forever(args.parent)
    except (Stop, KeyboardInterrupt):
        log.info("worker %s stopping", worker.name)
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
