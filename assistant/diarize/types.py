"""The diarize stage's options and results: speaker turns, speakers' voices, channels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from assistant.errors import OptionError

Channel = Literal["left", "right"]
ClusterMethod = Literal["ahc", "spectral"]
CLUSTER_METHODS: tuple[ClusterMethod, ...] = ("ahc", "spectral")
CHANNELS: tuple[Channel, Channel] = ("left", "right")
SPEAKER_PREFIX = "SPEAKER_"
WINDOW_S = 1.6  # the encoder's partial utterance: 160 mel frames of 10 ms
FRAME_S = 0.1  # resolution of speaker turns
EMBEDDING_MODEL = "resemblyzer-ge2e-256"
# Seconds between the starts of two voice windows of a call (enrollment uses its own, denser).
HOP_S = 0.8
# Cosine similarity of a call's speaker centroid to a profile at which they are the same voice.
# On scripts/bench_diarize.py, reps enrolled from 4-10 s of held-out speech score 0.79-0.86 with
# their own voice in a call, and profiles of 47 people who were not in the call at most 0.76.
# Longer enrollment (30 s and more) raises the first. A match is also one-to-one (best first).
PROFILE_THRESHOLD = 0.78


@dataclass(frozen=True)
class DiarizeOptions:
    """How to find speakers. ``speakers`` fixes their number; None estimates it."""

    speakers: int | None = None
    max_speakers: int = 8
    rep_channel: Channel | None = None
    # How windows are grouped into voices. scripts/bench_diarize.py tunes both on its dev half:
    # "ahc": average linkage, a cut at ``threshold`` cosine distance; "spectral": a pruned
    # affinity graph whose eigengap gives the number of speakers (at least two), then k-means.
    # They tie there on real voices with the count estimated (test half: mean DER 4.4 % both);
    # told the count, average linkage holds where spectral can split two short voices of three
    # wrongly, so it stays the default. Spectral alone separates the synthetic German pair.
    method: ClusterMethod = "ahc"
    # Average-linkage cosine distance at which two groups of windows are different speakers.
    threshold: float = 0.35
    # Spectral: each window keeps its ``prune_share`` most similar windows as graph edges, and
    # two voices whose centroids are more alike than ``same_voice`` are one (a one-voice call).
    prune_share: float = 0.2
    same_voice: float = 0.8
    hop_s: float = HOP_S
    # One voice found (by either method) is the answer only when the windows' two-way split
    # does not differ in median pitch by this many semitones (None: pitch is not used). The
    # encoder put an espeak-ng man and woman at 0.79 similarity, a single voice's two halves at
    # 0.82-0.83; in pitch they lie 11 semitones apart, a single voice's halves under 1.
    pitch_gap_st: float | None = 5.0
    # A cluster with less speech than this (seconds, or share of all speech) is folded into the
    # nearest larger one: noise, laughter, a cough.
    min_speaker_s: float = 2.0
    min_speaker_share: float = 0.02
    # Turns shorter than this are absorbed by their neighbours.
    min_turn_s: float = 0.5
    # Windows used for clustering at most (evenly subsampled above; the rest join by centroid):
    # average linkage takes 0.6 s for 3000, spectral clustering (an eigendecomposition) 1.5 s
    # for 1500 and 8 s for 3000.
    max_cluster_windows: int = 3000
    max_spectral_windows: int = 1500
    # Two-party stereo: in at least ``dominant_share`` of the moments with sound one channel is
    # ``dominance_db`` louder than the other, and each channel is in ``min_party_share`` of them.
    dominance_db: float = 10.0
    dominant_share: float = 0.5
    min_party_share: float = 0.05
    # A channel's word (or short span) during which it is ``dominance_db`` quieter than the other
    # channel for this share of the time is crosstalk, the other party heard through the line,
    # when the other channel has the same words then, or when the channel is ``bleed_db``
    # quieter at the median moment. A party who talks over the other keeps their words.
    crosstalk_share: float = 0.6
    bleed_db: float = 15.0
    # Cosine similarity from which a speaker is an enrolled rep (see assistant.diarize.profiles).
    profile_threshold: float = PROFILE_THRESHOLD

    def __post_init__(self) -> None:
        if self.speakers is not None and not 1 <= self.speakers <= self.max_speakers:
            raise OptionError(
                f"speakers must be between 1 and {self.max_speakers}, not {self.speakers}"
            )
        if not 0.0 < self.profile_threshold <= 1.0:
            raise OptionError(f"profile threshold must be in (0, 1], not {self.profile_threshold}")
        if self.method not in CLUSTER_METHODS:
            raise OptionError(
                f"clustering method must be one of: {', '.join(CLUSTER_METHODS)}; "
                f"not {self.method!r}"
            )
        if self.rep_channel is not None and self.rep_channel not in CHANNELS:
            raise OptionError(
                f"rep channel must be one of: {', '.join(CHANNELS)}; not {self.rep_channel!r}"
            )

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Turn:
    start_s: float
    end_s: float
    speaker: str

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Diarization:
    """Speaker turns plus one voice embedding (L2-normed centroid) per speaker."""

    turns: list[Turn]
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    # embedding: mono voices clustered; stereo: one speaker per channel; none: a transcript's own
    method: Literal["embedding", "stereo", "none"] = "embedding"

    @property
    def speakers(self) -> list[str]:
        seen: dict[str, None] = {}
        for turn in self.turns:
            seen.setdefault(turn.speaker, None)
        for name in self.embeddings:
            seen.setdefault(name, None)
        return list(seen)


def speaker_label(index: int) -> str:
    return f"{SPEAKER_PREFIX}{index + 1}"
