"""A user's voice: enrolment as a job (the recording a user uploads waits in the recordings
folder, which every worker mounts, until a worker makes their voice profile from it; then it is
deleted), or learned from their calls where a person confirmed who the rep is. Only voice
embeddings are kept (``assistant.diarize.profiles``)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.orm import Session

from assistant.diarize.profiles import ProfileStore, VoiceProfile, learn
from assistant.errors import OptionError
from assistant.store.tables import Call, Job, User

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


def learn_owner_voice(profiles_dir: Path, call: Call, rep_label: str) -> VoiceProfile | None:
    """A person confirmed that ``rep_label`` is the rep of ``call``: the call owner's voice is
    learned from that speaker (``profiles.learn``), when the owner has not enrolled their voice
    and the call's voices were told apart (two or more speakers with a voice). Returns the
    profile saved, or None."""
    report = call.report or {}
    voices = [s for s in report.get("speakers", []) if s.get("voice")]
    speaker = next((s for s in voices if s.get("id") == rep_label), None)
    if speaker is None or len(voices) < 2:
        # One voice found in the call: it may hold the customer's speech too; learn nothing.
        return None
    return learn(
        ProfileStore(profiles_dir),
        call.owner_id,
        call.owner.name,
        speaker["voice"],
        float(speaker.get("voice_s") or 0.0),
        call.sha256,
    )
