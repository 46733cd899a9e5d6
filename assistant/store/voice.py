"""Voice enrollment as a job: the recording a user uploads waits in the recordings folder (which
every worker mounts) until a worker makes their voice profile from it; then it is deleted. Only
the voice embedding is kept (``assistant.diarize.profiles``)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.orm import Session

from assistant.errors import OptionError
from assistant.store.tables import Job, User

VOICE_DIR = "voice"
_NAME = re.compile(r"^[0-9a-f]{32}$")


def enrollment_path(recordings_dir: Path, name: str) -> Path:
    """Where an enrollment recording waits: a random name, never the uploader's filename."""
    if not _NAME.match(name):
        raise OptionError(f"not an enrollment recording name: {name!r}")
    return recordings_dir / VOICE_DIR / name


def create_voice_job(
    session: Session, user: User, stored: str, filename: str, max_attempts: int = 3
) -> Job:
    """A queued job that enrolls ``user``'s voice from the recording stored as ``stored``."""
    enrollment_path(Path("."), stored)  # a name made by the caller, checked once more
    job = Job(
        kind="voice",
        user_id=user.id,
        max_attempts=max_attempts,
        options={"file": stored, "filename": filename},
    )
    session.add(job)
    session.flush()
    return job
