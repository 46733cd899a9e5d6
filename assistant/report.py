"""The data model of a processed call: one ``CallReport`` tree, passed between stages.

Times are seconds from the start of the recording (``start_s``, ``end_s``). Stages return new
objects (``model_copy(update=...)``) rather than mutating the ones they were given.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["rep", "customer"]
SourceKind = Literal["audio", "video", "transcript"]
ItemKind = Literal["action_item", "customer_need", "objection"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Model):
    """What was analysed."""

    path: str
    sha256: str
    kind: SourceKind
    duration_s: float
    channels: int = 0
    format: str = ""
    size_bytes: int = 0


class Provenance(_Model):
    """How the report was made: enough to reproduce it or to tell two runs apart."""

    engine: str
    model: str
    compute_type: str = ""
    pipeline_version: str
    versions: dict[str, str] = Field(default_factory=dict)
    options: dict[str, object] = Field(default_factory=dict)
    created_at: datetime


class Word(_Model):
    start_s: float
    end_s: float
    text: str
    probability: float | None = None
    speaker: str | None = None


class Segment(_Model):
    id: int
    start_s: float
    end_s: float
    text: str
    words: list[Word] = Field(default_factory=list)
    speaker: str | None = None
    role: Role | None = None
    language: str | None = None
    translation: str | None = None


class Item(_Model):
    """An action item, customer need or objection, grounded in a quote and a moment."""

    id: int
    kind: ItemKind
    text: str
    quote: str
    start_s: float
    end_s: float
    speaker: str | None = None
    role: Role | None = None
    confidence: float
    owner: str | None = None
    due: date | None = None
    due_text: str | None = None
    category: str | None = None
    segment_ids: list[int] = Field(default_factory=list)


class KeyMoment(_Model):
    start_s: float
    end_s: float
    speaker: str | None = None
    text: str


class Summary(_Model):
    overview: str = ""
    participants: list[str] = Field(default_factory=list)
    needs: list[str] = Field(default_factory=list)
    objections: list[str] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)
    key_moments: list[KeyMoment] = Field(default_factory=list)


RoleSource = Literal["profile", "channel", "heuristic", "transcript", "manual"]

# Below this role_confidence a rep chosen by the text heuristic is a guess: reports and the call
# page say "roles uncertain" (measured in scripts/eval_roles.py).
ROLE_CONFIDENCE_THRESHOLD = 0.7


class Speaker(_Model):
    """One voice in the call. ``id`` is what segments carry in ``speaker``.

    ``role_source`` says how the role was decided: an enrolled voice ``profile``, the recording's
    ``channel`` mapping, the text ``heuristic`` (see ``assistant.diarize.roles``), the names of an
    imported ``transcript``, or a ``manual`` override; ``role_confidence`` is 0..1.
    ``role_uncertain``: the roles are the heuristic's guess with ``role_confidence`` below
    ``ROLE_CONFIDENCE_THRESHOLD`` ("roles uncertain"): a person should check them.
    """

    id: str
    name: str | None = None
    role: Role | None = None
    role_source: RoleSource = "heuristic"
    role_confidence: float = 0.0
    role_uncertain: bool = False
    channel: Literal["left", "right"] | None = None
    profile_similarity: float | None = None
    # The speaker's voice (GE2E embedding, unit length) and seconds of speech behind it: when a
    # person confirms who the rep is, their voice is learned from it (``profiles.learn``).
    voice: list[float] | None = None
    voice_s: float | None = None


# What reports shown to people leave out: voices are kept for learning, not for reading.
SHOWN = {"speakers": {"__all__": {"voice"}}}


class SpeakerMetrics(_Model):
    speaker: str
    role: Role | None = None
    talk_s: float = 0.0
    talk_ratio: float = 0.0
    turns: int = 0
    words: int = 0
    words_per_minute: float = 0.0
    questions: int = 0
    longest_monologue_s: float = 0.0
    interruptions: int = 0


class RoleMetrics(_Model):
    talk_s: float = 0.0
    talk_ratio: float = 0.0
    words: int = 0
    words_per_minute: float = 0.0
    questions: int = 0
    longest_monologue_s: float = 0.0
    longest_monologue_start_s: float | None = None
    interruptions: int = 0


class CallMetrics(_Model):
    """Talk-time and conversation metrics of one call (see ``assistant.metrics``)."""

    duration_s: float = 0.0
    talk_s: float = 0.0
    silence_s: float = 0.0
    speaker_count: int = 0
    turns: int = 0
    interruptions: int = 0
    questions: int = 0
    words_per_minute: float = 0.0
    speakers: list[SpeakerMetrics] = Field(default_factory=list)
    roles: dict[Role, RoleMetrics] = Field(default_factory=dict)


class CallReport(_Model):
    """Everything known about one call. JSON output is this model, keys as named here."""

    source: Source
    language: str | None = None
    call_date: date | None = None
    provenance: Provenance
    segments: list[Segment] = Field(default_factory=list)
    items: list[Item] = Field(default_factory=list)
    speakers: list[Speaker] = Field(default_factory=list)
    summary: Summary | None = None
    metrics: CallMetrics = Field(default_factory=CallMetrics)
    trackers: list[dict[str, object]] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)


def spoken_language(segments: list[Segment]) -> str | None:
    """The language most of the talk time is in, by the segments' own languages; None when no
    segment has one."""
    spoken: dict[str, float] = {}
    for seg in segments:
        if seg.language:
            spoken[seg.language] = spoken.get(seg.language, 0.0) + seg.end_s - seg.start_s
    return max(spoken, key=spoken.__getitem__) if spoken else None


def overlap_s(a0: float, a1: float, b0: float, b1: float) -> float:
    """Seconds that the spans [a0, a1] and [b0, b1] share (0 when apart)."""
    return max(0.0, min(a1, b1) - max(a0, b0))
