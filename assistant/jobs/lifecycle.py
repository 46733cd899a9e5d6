"""A call's jobs, decided in one place: a recording registered as a call with its job, and a
call run again. Upload (``api``), batch (``intake``), the API's retry and the web page's retry
all come through here, so they cannot disagree.

The rules:

- The same recording registered again by the same owner is the same call. A call whose last
  job failed is run again with a new job (an upload and a batch alike); any other returns the
  existing job, which is not sent to the queue again.
- Registering puts the recording in the shared recordings folder (named by its sha256) while
  holding the recording's lock until the call is committed, so a deletion of another call with
  the same file cannot remove it in between; a failed commit takes back the file it placed.
- A call is run again only when it failed or an older pipeline version analysed it, and only
  while its recording is kept (retention may have deleted it).

Callers commit (``register_call`` does, inside the lock) and then send a new job's id to the
queue.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assistant import PIPELINE_VERSION
from assistant.errors import OptionError
from assistant.store import calls as call_store
from assistant.store.db import Database
from assistant.store.errors import ConflictError
from assistant.store.tables import Call, Job, User

T = TypeVar("T")


def _nothing(sha256: str) -> None:
    pass


def _new_job(session: Session, call: Call, max_attempts: int) -> Job:
    """A new job for an existing call, with the options of its last job."""
    last = call_store.latest_job(session, call)
    job = Job(
        call_id=call.id,
        max_attempts=max_attempts,
        pipeline_version=PIPELINE_VERSION,
        options=dict(last.options or {}) if last else {},
    )
    session.add(job)
    call.status, call.error = "queued", None
    session.flush()
    return job


def _place(source: Path, target: Path, move: bool) -> None:
    """Put ``source`` at ``target`` in one step (a reader never sees half a file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if move:
        os.replace(source, target)
        return
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def register_call(
    db: Database,
    recordings_dir: Path,
    owner: Callable[[Session], User],
    new: call_store.NewCall,
    source: Path,
    describe: Callable[[Session, Call, Job, bool], T],
    *,
    move: bool,
    max_attempts: int,
    before_commit: Callable[[str], None] = _nothing,
) -> T:
    """A checked recording at ``source`` as a call with a job, committed; returns what
    ``describe(session, call, job, created)`` makes of them before the commit. ``created`` is
    True for a new job that the caller must send to the queue.

    ``owner`` picks the call's owner in the session (it may refuse with an ``InputError``);
    ``move`` moves ``source`` into the recordings folder (an upload's temporary file) instead of
    copying it (a batch's file stays where it is). ``before_commit`` is called with the sha256
    once the call and the file are in place, just before the commit."""
    with call_store.recording_lock(recordings_dir, new.sha256) as target:
        placed = False
        try:
            with db.session() as session:
                try:
                    call, job, created = call_store.create_call(
                        session, owner(session), new, max_attempts
                    )
                except IntegrityError:
                    raise OptionError("The same recording is being uploaded right now") from None
                if not created and job.status == "failed":
                    job, created = _new_job(session, call, max_attempts), True
                if not target.exists():
                    _place(source, target, move)
                    placed = True
                call.recording_deleted_at = None
                session.flush()
                result = describe(session, call, job, created)
                before_commit(new.sha256)
        except BaseException:
            if placed:
                target.unlink(missing_ok=True)
            raise
    return result


def retry_call(session: Session, call: Call, max_attempts: int) -> Job:
    """A new job for a call that failed, or that an older pipeline version analysed. Raises
    ``ConflictError`` when there is nothing to run again: the call's job has not ended, it is
    analysed by this version, or retention deleted its recording."""
    if call.status in ("queued", "processing"):
        raise ConflictError(f"Call {call.id} is {call.status}; wait until its job ends")
    if call.status == "done" and call.pipeline_version == PIPELINE_VERSION:
        raise ConflictError(f"Call {call.id} is already analysed by this version")
    if call.recording_deleted_at is not None:
        raise ConflictError(
            f"The recording of call {call.id} was deleted by the retention policy; "
            "upload it again to analyse it"
        )
    return _new_job(session, call, max_attempts)
