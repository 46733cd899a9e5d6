"""A user's voice: enrolment as a job (the recording a user uploads waits in the recordings
folder, which every worker mounts, until a worker makes their voice profile from it; then it is
deleted), or learned from their calls where a person confirmed who the rep is. Only voice
embeddings are kept (``assistant.diarize.profiles``)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.diarize.profiles import ProfileStore, VoiceProfile, learn, relearn
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


def _confirmed_voice(call: Call, label: str) -> tuple[list[float], float] | None:
    """The voice and seconds of speech of speaker ``label`` of ``call``, when the call's voices
    were told apart (two or more speakers with a voice): with one voice found, it may hold the
    customer's speech too."""
    voices = [s for s in (call.report or {}).get("speakers", []) if s.get("voice")]
    speaker = next((s for s in voices if s.get("id") == label), None)
    if speaker is None or len(voices) < 2:
        return None
    return speaker["voice"], float(speaker.get("voice_s") or 0.0)


def learn_owner_voice(profiles_dir: Path, call: Call, rep_label: str) -> VoiceProfile | None:
    """A person confirmed that ``rep_label`` is the rep of ``call``: the call owner's voice is
    learned from that speaker (``profiles.learn``), when the owner has not enrolled their voice
    and the call's voices were told apart. Returns the profile saved, or None."""
    found = _confirmed_voice(call, rep_label)
    if found is None:
        return None
    return learn(ProfileStore(profiles_dir), call.owner_id, call.owner.name, *found, call.sha256)


def follow_roles(
    session: Session, profiles_dir: Path, call: Call, confirmed: list[str]
) -> VoiceProfile | None:
    """A person set roles of ``call``'s speakers, ``confirmed`` those they set as the rep. When
    the owner's voice was already learned from this call, it is learned again from the calls it
    holds, each with the speaker now its one rep (none: that call teaches nothing), so a wrong
    confirmation is taken back; otherwise one confirmed rep teaches it (``learn_owner_voice``)."""
    store = ProfileStore(profiles_dir)
    known = store.user(call.owner_id)
    if known is None or not known.learned or call.sha256 not in known.recordings:
        if len(confirmed) == 1:
            return learn_owner_voice(profiles_dir, call, confirmed[0])
        return known
    voices: list[tuple[str, list[float], float]] = []
    learned_from = session.scalars(
        select(Call).where(Call.owner_id == call.owner_id, Call.sha256.in_(known.recordings))
    )
    for other in learned_from:  # a recording uploaded twice counts once, as in learning
        rep = [s.label for s in other.speakers if s.role == "rep"]
        found = _confirmed_voice(other, rep[0]) if len(rep) == 1 else None
        if found is not None and all(other.sha256 != v[0] for v in voices):
            voices.append((other.sha256, *found))
    return relearn(store, call.owner_id, call.owner.name, voices)
