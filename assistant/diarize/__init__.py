"""Who spoke when: speaker turns, and every segment and word assigned to a speaker.

Two ways in, chosen by the recording:

- **Two-party stereo** (phone systems and some conferencing exports put one party on each
  channel): each channel is one speaker. ``two_parties`` decides it once per recording from
  loudness over time (``is_two_party``):
  while someone talks, their channel is far louder than the other. The same signal twice, a
  silent channel, or two microphones in one room are mono. The pipeline transcribes the channels
  separately and merges the segments by time (``merge_channels``); ``diarize_stereo`` names the
  speakers (``SPEAKER_1`` left, ``SPEAKER_2`` right) and embeds each channel's speech for profile
  matching; ``drop_crosstalk`` removes the second copy of words that leaked into the other line.
  Crosstalk is decided per word (and, for turns, per moment) from the two channels' levels at
  that moment (``Crosstalk``), never per Whisper segment: a segment that runs across the other
  party's turns is split there, and a party who talks over the other keeps their words.
- **Mono**: Silero VAD finds speech; Resemblyzer's GE2E voice encoder embeds 1.6 s windows every
  ``hop_s`` seconds; agglomerative clustering (average linkage, cosine distance, a distance
  threshold, or exactly ``speakers`` clusters) groups the windows into speakers (spectral
  clustering with an eigengap count is the alternative, ``method="spectral"``); every 0.1 s of
  speech goes to the speaker whose centroid the windows covering it resemble most; short flips
  are smoothed away. ``assign_speakers`` then gives each word the speaker it overlaps most and
  splits segments where the speaker changes, so overlapping speech never loses text.

Roles come afterwards (``assistant.diarize.roles``). The encoder loads once per process
(``get_encoder``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from assistant.diarize.assign import assign_speakers, speaker_at
from assistant.diarize.clustering import cluster, spectral_cluster
from assistant.diarize.mono import diarize_mono
from assistant.diarize.roles import apply_roles, assign_roles, rename_turns
from assistant.diarize.stereo import (
    Crosstalk,
    channel,
    diarize_stereo,
    drop_crosstalk,
    is_two_party,
    merge_channels,
    merge_transcripts,
    own_speech_regions,
    split_crosstalk,
    two_parties,
)
from assistant.diarize.types import (
    CHANNELS,
    CLUSTER_METHODS,
    EMBEDDING_MODEL,
    Channel,
    ClusterMethod,
    Diarization,
    DiarizeOptions,
    Turn,
    speaker_label,
)
from assistant.diarize.voices import (
    embed_speech,
    embed_windows,
    get_encoder,
    mel_spectrogram,
    speech_regions,
)
from assistant.errors import EmptyAudioError
from assistant.report import Segment, Speaker

if TYPE_CHECKING:
    from assistant.diarize.profiles import VoiceProfile

__all__ = [
    "CHANNELS",
    "CLUSTER_METHODS",
    "EMBEDDING_MODEL",
    "Channel",
    "ClusterMethod",
    "Crosstalk",
    "Diarization",
    "DiarizeOptions",
    "DiarizeResult",
    "Turn",
    "assign_speakers",
    "channel",
    "cluster",
    "diarize",
    "diarize_mono",
    "diarize_stereo",
    "diarize_transcript",
    "drop_crosstalk",
    "embed_speech",
    "embed_windows",
    "find_speakers",
    "get_encoder",
    "is_two_party",
    "mel_spectrogram",
    "merge_channels",
    "merge_transcripts",
    "own_speech_regions",
    "speaker_at",
    "speaker_label",
    "spectral_cluster",
    "speech_regions",
    "split_crosstalk",
    "two_parties",
]


# A sentinel: the caller has not decided whether the recording is two-party.
UNDECIDED = object()


def find_speakers(
    samples: np.ndarray,
    segments: list[Segment],
    options: DiarizeOptions | None = None,
    crosstalk: Crosstalk | object | None = UNDECIDED,
) -> tuple[list[Segment], Diarization]:
    """Find speakers in decoded audio ``samples`` (channels, n) and assign them to ``segments``.

    Two-party stereo keeps the speakers ``merge_channels`` gave the segments; anything else is
    diarized from the mixed-down voice. ``crosstalk``: what ``two_parties`` decided for this
    recording, when the caller decided it already (the pipeline does, before transcribing).
    """
    options = options or DiarizeOptions()
    if samples.ndim == 1:
        samples = samples[np.newaxis, :]
    if samples.shape[1] == 0:
        raise EmptyAudioError("no audio to find speakers in")
    if crosstalk is UNDECIDED:
        crosstalk = two_parties(samples, options)
    if isinstance(crosstalk, Crosstalk):
        diarization = diarize_stereo(samples, options, crosstalk)
        if any(s.speaker is None for s in segments):
            segments = assign_speakers(segments, diarization.turns)
        return drop_crosstalk(segments, samples, options, crosstalk), diarization
    mono = samples[0] if samples.shape[0] == 1 else samples.mean(axis=0, dtype=np.float32)
    diarization = diarize_mono(mono, options)
    if not diarization.turns and segments:
        # Whisper heard words where the VAD heard no speech: one speaker said them.
        whole = Turn(0.0, max(s.end_s for s in segments), speaker_label(0))
        diarization = Diarization(turns=[whole], method="embedding")
    return assign_speakers(segments, diarization.turns), diarization


@dataclass(frozen=True)
class DiarizeResult:
    """Segments with speakers and roles, the speakers, and the turns under their final ids."""

    segments: list[Segment]
    speakers: list[Speaker]
    turns: list[Turn]
    diarization: Diarization


def diarize(
    samples: np.ndarray,
    segments: list[Segment],
    options: DiarizeOptions | None = None,
    profiles: Sequence[VoiceProfile] = (),
    crosstalk: Crosstalk | object | None = UNDECIDED,
) -> DiarizeResult:
    """The diarize stage for a recording: speakers found, named, given roles, put on segments
    (``crosstalk`` as ``find_speakers`` takes it)."""
    options = options or DiarizeOptions()
    segments, diarization = find_speakers(samples, segments, options, crosstalk)
    speakers = assign_roles(segments, diarization, profiles, options)
    return DiarizeResult(
        segments=apply_roles(segments, speakers),
        speakers=list(speakers.values()),
        turns=rename_turns(diarization.turns, speakers),
        diarization=diarization,
    )


def diarize_transcript(
    segments: list[Segment],
    options: DiarizeOptions | None = None,
    profiles: Sequence[VoiceProfile] = (),
) -> DiarizeResult:
    """The diarize stage for an imported transcript: its speakers (if any) get roles."""
    diarization = Diarization(turns=[], method="none")
    if all(s.speaker is None for s in segments):
        return DiarizeResult(list(segments), [], [], diarization)
    speakers = assign_roles(segments, diarization, profiles, options)
    return DiarizeResult(apply_roles(segments, speakers), list(speakers.values()), [], diarization)
