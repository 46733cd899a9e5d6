"""Rep voice profiles: one voice embedding per sales rep, kept in the data directory.

A profile is a 256-number GE2E embedding (``assistant.diarize.EMBEDDING_MODEL``) averaged over
the rep's speech in one or more enrollment recordings; the audio itself is never stored. Files are
JSON, one per rep::

    {"name": "Anna Berg", "model": "resemblyzer-ge2e-256", "embedding": [...256 floats],
     "speech_s": 41.2, "recordings": ["<sha256>", ...], "created_at": "2026-...", "version": 1}

Two kinds of keys, in two folders so they never meet: reps enrolled by name on the command line
(``assistant reps enroll NAME``) are ``<data dir>/profiles/<slug of the name>.json``, so "Anna
Berg" and "anna  berg" are one rep; users of the service are keyed by their user id,
``<data dir>/profiles/users/<id>.json`` (with ``"user_id"`` in the file), since user names that
differ only in case or punctuation (``anna.berg``, ``anna_berg``) are different people.

At analysis a speaker whose voice is at least ``PROFILE_THRESHOLD`` cosine-similar to a profile,
and more similar to it than any other speaker of the call, is that rep (``match_profiles``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from assistant.diarize.types import CHANNELS, EMBEDDING_MODEL, PROFILE_THRESHOLD, Channel
from assistant.errors import EmptyAudioError, OptionError

if TYPE_CHECKING:
    from assistant.media import MediaOptions

log = logging.getLogger(__name__)

PROFILE_VERSION = 1
MIN_ENROLL_SPEECH_S = 3.0
# Enrollment embeds its recordings with windows twice as dense as a call's (types.HOP_S).
ENROLL_HOP_S = 0.4
MAX_NAME_LENGTH = 64
USERS_FOLDER = "users"


@dataclass(frozen=True)
class VoiceProfile:
    name: str
    embedding: np.ndarray
    speech_s: float
    model: str
    created_at: datetime
    recordings: tuple[str, ...] = ()
    user_id: int | None = None  # the service's user; None: a rep enrolled by name
    # Learned from calls where a person confirmed who the rep is (``learn``), not enrolled from
    # a recording of them; an enrolled profile is never changed by learning.
    learned: bool = False

    @classmethod
    def new(
        cls,
        name: str,
        embedding: np.ndarray,
        speech_s: float,
        recordings: Sequence[str] = (),
        user_id: int | None = None,
    ) -> VoiceProfile:
        vector = np.asarray(embedding, dtype=np.float32)
        return cls(
            name=check_name(name),
            embedding=vector / max(float(np.linalg.norm(vector)), 1e-12),
            speech_s=round(float(speech_s), 2),
            model=EMBEDDING_MODEL,
            created_at=datetime.now(UTC),
            recordings=tuple(recordings),
            user_id=user_id,
        )

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "version": PROFILE_VERSION,
            "name": self.name,
            "model": self.model,
            "embedding": [round(float(x), 6) for x in self.embedding],
            "speech_s": self.speech_s,
            "recordings": list(self.recordings),
            "created_at": self.created_at.isoformat(),
        }
        if self.user_id is not None:
            data["user_id"] = self.user_id
        if self.learned:
            data["learned"] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> VoiceProfile:
        embedding = np.asarray(data["embedding"], dtype=np.float32)
        if embedding.shape != (256,) or not np.all(np.isfinite(embedding)):
            raise ValueError("embedding must be 256 finite numbers")
        return cls(
            name=check_name(str(data["name"])),
            embedding=embedding / max(float(np.linalg.norm(embedding)), 1e-12),
            speech_s=float(data.get("speech_s", 0.0)),  # type: ignore[arg-type]
            model=str(data.get("model", "")),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            recordings=tuple(str(r) for r in data.get("recordings", ())),  # type: ignore[attr-defined]
            user_id=None if data.get("user_id") is None else int(data["user_id"]),  # type: ignore[call-overload]
            learned=bool(data.get("learned", False)),
        )


def check_name(name: str) -> str:
    """A rep's display name, trimmed; rejects empty, over-long and control-character names."""
    cleaned = " ".join(str(name).split())
    if not cleaned or not slug(cleaned):
        raise OptionError(f"rep name {name!r} is empty; give a name such as 'Anna Berg'")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise OptionError(f"rep name is longer than {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(c).startswith("C") for c in cleaned):
        raise OptionError(f"rep name {name!r} contains control characters")
    return cleaned


def slug(name: str) -> str:
    """File-safe key of a name: 'Anna Berg' and 'anna  berg' are the same rep."""
    folded = unicodedata.normalize("NFKD", name.casefold())
    ascii_name = folded.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")


# What reading a profile file may raise when the file is damaged or from another version.
_UNREADABLE = (OSError, ValueError, KeyError, TypeError, OptionError)


def _read(file: Path) -> VoiceProfile:
    return VoiceProfile.from_json(json.loads(file.read_text("utf-8")))


@dataclass
class ProfileStore:
    """The ``profiles/`` folder of the data directory: reps by name in it, users of the service
    by id in ``users/``."""

    directory: Path
    _skipped: list[Path] = field(default_factory=list, repr=False)

    def path(self, name: str) -> Path:
        """The file of a rep enrolled by name."""
        return self.directory / f"{slug(check_name(name))}.json"

    def user_path(self, user_id: int) -> Path:
        """The file of the service's user ``user_id``."""
        return self.directory / USERS_FOLDER / f"{int(user_id)}.json"

    def user(self, user_id: int) -> VoiceProfile | None:
        """The profile of user ``user_id``; None when they have none or it cannot be read."""
        path = self.user_path(user_id)
        if not path.is_file():
            return None
        try:
            return _read(path)
        except _UNREADABLE:
            return None

    def _path_of(self, profile: VoiceProfile) -> Path:
        return (
            self.path(profile.name) if profile.user_id is None else self.user_path(profile.user_id)
        )

    def list(self) -> list[VoiceProfile]:
        """Every readable profile (reps and users), by name. Unreadable files are skipped and
        logged."""
        if not self.directory.is_dir():
            return []
        profiles = []
        files = [*self.directory.glob("*.json"), *self.directory.glob(f"{USERS_FOLDER}/*.json")]
        for file in sorted(files):
            try:
                profiles.append(_read(file))
            except _UNREADABLE as exc:
                log.warning("skipping voice profile %s: %s", file, exc)
                self._skipped.append(file)
        return sorted(profiles, key=lambda p: p.name.casefold())

    def get(self, name: str) -> VoiceProfile:
        path = self.path(name)
        if not path.is_file():
            raise OptionError(f"no rep named {name!r} is enrolled; {self._known()}")
        try:
            return _read(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OptionError(
                f"the voice profile of {name!r} ({path}) cannot be read: {exc}; remove it with "
                f"`assistant reps remove {name!r}` and enroll again"
            ) from exc

    def save(self, profile: VoiceProfile) -> Path:
        """Write (or replace) a profile atomically: a user's by id, a rep's by name."""
        path = self._path_of(profile)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".profile-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(profile.to_json(), fh, indent=1)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def remove(self, name: str) -> Path:
        path = self.path(name)
        if not path.is_file():
            raise OptionError(f"no rep named {name!r} is enrolled; {self._known()}")
        path.unlink()
        return path

    def remove_user(self, user_id: int) -> bool:
        """Delete the profile of user ``user_id``; False when they have none."""
        path = self.user_path(user_id)
        if not path.is_file():
            return False
        path.unlink()
        return True

    def adopt(self, user_id: int, name: str) -> bool:
        """Move a profile the service stored under a user's name (before profiles were keyed by
        user id) to that user. Only a profile whose stored name is exactly ``name`` moves, never a
        look-alike's that shares its file name; one the user already has by id is not replaced.
        True when one moved."""
        try:
            legacy = self.path(name)
        except OptionError:
            return False
        target = self.user_path(user_id)
        if target.exists() or not legacy.is_file():
            return False
        try:
            profile = _read(legacy)
        except _UNREADABLE:
            return False
        if profile.name != name:
            return False
        self.save(replace(profile, user_id=user_id))
        legacy.unlink()
        log.info("voice profile %s now belongs to user %s (%s)", legacy.name, user_id, target)
        return True

    def _known(self) -> str:
        names = [p.name for p in self.list()]
        if not names:
            return "none are (enroll one with `assistant reps enroll NAME RECORDING`)"
        return "enrolled: " + ", ".join(names)


def enroll(
    name: str,
    recordings: Iterable[Path],
    media_options: MediaOptions | None = None,
    min_speech_s: float = MIN_ENROLL_SPEECH_S,
    channel: Channel | None = None,
    user_id: int | None = None,
) -> VoiceProfile:
    """A profile from recordings of the rep speaking.

    With ``channel``, the rep is that channel of two-party stereo recordings. Otherwise, in each
    recording the dominant voice (the largest speaker cluster) is taken, so a recorded call in
    which the rep talks most also works. Raises ``EmptyAudioError`` when less than
    ``min_speech_s`` of speech is found in all of them together. ``user_id``: the profile of
    that user of the service (stored by id), not of a rep enrolled by name.
    """
    from assistant import media
    from assistant.diarize import clustering, stereo, voices

    name = check_name(name)
    paths = list(recordings)
    if not paths:
        raise OptionError("give at least one recording of the rep speaking")
    if channel is not None and channel not in CHANNELS:
        raise OptionError(f"channel must be left or right, not {channel!r}")
    vectors: list[np.ndarray] = []
    weights: list[float] = []
    hashes: list[str] = []
    for path in paths:
        audio = media.load_audio(path, media_options)
        if channel is None:
            voice = np.ascontiguousarray(audio.mono, dtype=np.float32)
            regions = voices.speech_regions(voice)
        elif audio.channels == 2:
            index = CHANNELS.index(channel)
            voice = stereo.channel(audio.samples, index)
            regions = stereo.own_speech_regions(audio.samples, index)
        else:
            raise OptionError(
                f"{path.name} has one channel; a rep's channel can only be chosen in stereo "
                "recordings with one party per channel"
            )
        _, embeddings = voices.embed_windows(voice, regions, ENROLL_HOP_S)
        if len(embeddings) == 0:
            continue
        own = embeddings
        if channel is None:
            labels = clustering.cluster(embeddings)
            own = embeddings[labels == np.bincount(labels).argmax()]
        speech_s = sum(e - s for s, e in regions) * len(own) / len(embeddings)
        vectors.append(own.mean(axis=0))
        weights.append(speech_s)
        hashes.append(media.sha256_file(path))
    total_s = float(sum(weights))
    if total_s < min_speech_s:
        raise EmptyAudioError(
            f"found {total_s:.1f} s of speech in the enrollment recordings; at least "
            f"{min_speech_s:g} s of the rep speaking is needed (30 s or more works best)"
        )
    embedding = np.average(np.stack(vectors), axis=0, weights=weights)
    return VoiceProfile.new(name, embedding, total_s, hashes, user_id=user_id)


def learn(
    store: ProfileStore,
    user_id: int,
    name: str,
    voice: Sequence[float],
    speech_s: float,
    call: str,
    min_speech_s: float = MIN_ENROLL_SPEECH_S,
) -> VoiceProfile | None:
    """Learn a user's voice from a call where a person confirmed which speaker they are: the
    speaker's voice joins the user's learned profile (an average weighted by seconds of speech;
    ``call`` names the call, which counts once). Their later calls then find them by voice,
    without an enrolment. A profile enrolled from a recording of the user stays as it is, and a
    speaker with less than ``min_speech_s`` of speech teaches nothing. Returns the profile
    saved, or None."""
    vector = np.asarray(voice, dtype=np.float32)
    if vector.shape != (256,) or not np.all(np.isfinite(vector)) or speech_s < min_speech_s:
        return None
    known = store.user(user_id)  # an unreadable one is learned again from here
    if known is not None and not known.learned:
        return None
    if known is not None and call in known.recordings:
        return known
    vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
    if known is not None:
        total = known.speech_s + speech_s
        vector = ((known.embedding * known.speech_s + vector * speech_s) / total).astype(np.float32)
        speech_s, recordings = total, (*known.recordings, call)
    else:
        recordings = (call,)
    profile = replace(
        VoiceProfile.new(name, vector, speech_s, recordings, user_id=user_id), learned=True
    )
    store.save(profile)
    return profile


def relearn(
    store: ProfileStore,
    user_id: int,
    name: str,
    voices: Sequence[tuple[str, Sequence[float], float]],
    min_speech_s: float = MIN_ENROLL_SPEECH_S,
) -> VoiceProfile | None:
    """Make a user's learned profile again from ``voices`` (call, the speaker confirmed as them,
    seconds of speech), after a person changed who the rep of a call it was learned from is: a
    wrong confirmation taken back leaves no trace of that voice. Each voice counts as in
    ``learn``. Nothing left to learn from removes the profile (returns None); a profile enrolled
    from a recording stays as it is (returned)."""
    known = store.user(user_id)
    if known is not None and not known.learned:
        return known
    kept = [
        (call, np.asarray(v, dtype=np.float32), float(s))
        for call, v, s in voices
        if np.shape(v) == (256,) and np.all(np.isfinite(v)) and s >= min_speech_s
    ]
    if not kept:
        store.remove_user(user_id)
        return None
    units = [v / max(float(np.linalg.norm(v)), 1e-12) for _, v, _ in kept]
    seconds = [s for _, _, s in kept]
    vector = np.average(np.stack(units), axis=0, weights=seconds)
    calls = tuple(dict.fromkeys(call for call, _, _ in kept))
    profile = replace(
        VoiceProfile.new(name, vector, sum(seconds), calls, user_id=user_id), learned=True
    )
    store.save(profile)
    return profile


def match_profiles(
    voices: dict[str, np.ndarray],
    profiles: Sequence[VoiceProfile],
    threshold: float = PROFILE_THRESHOLD,
) -> dict[str, tuple[VoiceProfile, float]]:
    """Which speaker is which enrolled rep: {speaker: (profile, similarity)}.

    One-to-one: pairs are taken best first, each speaker and each profile at most once, and only
    at or above ``threshold``.
    """
    pairs = []
    for speaker, vector in voices.items():
        v = vector / max(float(np.linalg.norm(vector)), 1e-12)
        for index, profile in enumerate(profiles):
            pairs.append((float(v @ profile.embedding), speaker, index))
    pairs.sort(reverse=True)
    matched: dict[str, tuple[VoiceProfile, float]] = {}
    used: set[int] = set()
    for similarity, speaker, index in pairs:
        if similarity < threshold:
            break
        if speaker in matched or index in used:
            continue
        matched[speaker] = (profiles[index], round(similarity, 4))
        used.add(index)
    return matched
