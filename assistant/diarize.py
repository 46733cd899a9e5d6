"""Who spoke when: speaker turns, and every segment and word assigned to a speaker.

Two ways in, chosen by the recording:

- **Two-party stereo** (phone systems and some conferencing exports put one party on each
  channel): each channel is one speaker. ``is_two_party`` decides it from loudness over time:
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

Roles come afterwards (``assistant.roles``). The encoder loads once per process (``get_encoder``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Literal

import numpy as np

from assistant.errors import EmptyAudioError, ModelError, OptionError
from assistant.media import SAMPLE_RATE
from assistant.report import Segment, Speaker, Word

if TYPE_CHECKING:
    from resemblyzer import VoiceEncoder

    from assistant.profiles import VoiceProfile
    from assistant.transcribe import Transcript

Channel = Literal["left", "right"]
ClusterMethod = Literal["ahc", "spectral"]
CLUSTER_METHODS: tuple[ClusterMethod, ...] = ("ahc", "spectral")
CHANNELS: tuple[Channel, Channel] = ("left", "right")
SPEAKER_PREFIX = "SPEAKER_"
WINDOW_S = 1.6  # the encoder's partial utterance: 160 mel frames of 10 ms
FRAME_S = 0.1  # resolution of speaker turns
EMBEDDING_MODEL = "resemblyzer-ge2e-256"


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
    hop_s: float = 0.8
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
    # Cosine similarity from which a speaker is an enrolled rep (see assistant.profiles).
    profile_threshold: float = 0.78

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


# --- stereo ---------------------------------------------------------------------------------


def _frame_levels_db(samples: np.ndarray, frame: int = 480) -> np.ndarray:
    """(channels, frames) level in dB of 30 ms frames, without a float64 copy of the call."""
    n = samples.shape[1] // frame
    levels = np.empty((samples.shape[0], n))
    step = 20_000  # frames per chunk: 10 minutes
    for first in range(0, n, step):
        last = min(n, first + step)
        block = samples[:, first * frame : last * frame].reshape(samples.shape[0], -1, frame)
        power = np.square(block, dtype=np.float64).mean(axis=2)
        levels[:, first:last] = 10 * np.log10(power + 1e-12)
    return levels


def is_two_party(samples: np.ndarray, options: DiarizeOptions | None = None) -> bool:
    """True when ``samples`` (channels, n) holds one party per channel.

    Decided from the channels' loudness over time, not from the waveforms: while someone speaks
    in a two-party recording, their channel is far louder than the other one (``dominance_db``),
    in most moments and for both channels. The same signal twice, a silent channel, and a room
    recorded with two microphones (both channels hear everybody, a few dB apart) are not.
    """
    options = options or DiarizeOptions()
    if samples.ndim != 2 or samples.shape[0] != 2 or samples.shape[1] < SAMPLE_RATE // 2:
        return False
    levels = _frame_levels_db(samples)
    loudest = levels.max(axis=0)
    active = loudest > np.percentile(loudest, 99) - 40.0
    if active.sum() < 10:
        return False
    difference = levels[0, active] - levels[1, active]
    left = float(np.mean(difference > options.dominance_db))
    right = float(np.mean(difference < -options.dominance_db))
    return left + right >= options.dominant_share and min(left, right) >= options.min_party_share


def channel(samples: np.ndarray, index: int) -> np.ndarray:
    """One channel of (channels, n) samples as contiguous float32, ready to transcribe."""
    return np.ascontiguousarray(samples[index], dtype=np.float32)


def merge_channels(left: list[Segment], right: list[Segment]) -> list[Segment]:
    """Segments of the two channels as one conversation, in time order, speakers set."""
    tagged = [(s, 0) for s in left] + [(s, 1) for s in right]
    tagged.sort(key=lambda pair: (pair[0].start_s, pair[0].end_s, pair[1]))
    merged = []
    for i, (segment, channel) in enumerate(tagged):
        name = speaker_label(channel)
        words = [w.model_copy(update={"speaker": name}) for w in segment.words]
        merged.append(segment.model_copy(update={"id": i, "speaker": name, "words": words}))
    return merged


class Crosstalk:
    """Which moments of a two-party recording's channel are the other party leaking into it.

    Judged moment by moment (30 ms frames of ``levels``, dB, one row per channel): while the
    other party talks, a channel that holds only their bleed is far quieter than their own line
    at that same moment; while both talk (an interruption, a short overlap) each line holds its
    own voice at its own level. Never judged over a whole Whisper segment, which may run across
    the other party's turns.
    """

    frame_s = 0.03
    # Bleed and the words it came from are transcribed from the same sound, a few frames apart.
    echo_s = 1.0
    # Own speech in a region: at least this much of it not drowned by the other line.
    min_own_s = 0.09
    # The window (seconds) over which the moments of a speech region are judged.
    span_s = 0.33

    def __init__(self, levels: np.ndarray, options: DiarizeOptions | None = None) -> None:
        self.levels = np.asarray(levels, dtype=np.float64)
        self.active: np.ndarray = np.zeros(self.levels.shape[1:], dtype=bool)
        # Moments a channel holds sound at all: bleed is sound; a silent line is no evidence (a
        # word's timestamps often reach into the silence before it, while the other party talks).
        self.sound: np.ndarray = np.zeros(self.levels.shape, dtype=bool)
        if self.levels.size:
            loudest = self.levels.max(axis=0)
            self.active = loudest > np.percentile(loudest, 99) - 40.0
            loud = np.percentile(self.levels, 99, axis=1, keepdims=True)
            noise = np.percentile(self.levels, 1, axis=1, keepdims=True)
            self.sound = self.levels > np.maximum(loud - 50.0, noise + 10.0)
        self.options = options or DiarizeOptions()

    @classmethod
    def of(cls, samples: np.ndarray, options: DiarizeOptions | None = None) -> Crosstalk:
        return cls(_frame_levels_db(samples), options)

    def _frames(self, start_s: float, end_s: float) -> slice:
        first = max(0, int(start_s / self.frame_s))
        last = max(first + 1, int(np.ceil(end_s / self.frame_s)))
        return slice(first, last)

    def _difference(self, index: int, start_s: float, end_s: float) -> np.ndarray:
        """Channel ``index`` minus the other, dB, over the frames of the span in which the
        channel holds sound."""
        frames = self._frames(start_s, end_s)
        active = self.active[frames] & self.sound[index, frames]
        return (self.levels[index, frames] - self.levels[1 - index, frames])[active]

    def is_bleed(
        self,
        index: int,
        start_s: float,
        end_s: float,
        echoed: bool | Callable[[], bool] = True,
    ) -> bool:
        """True when what channel ``index`` holds in [start_s, end_s] (a word, a short span) is
        the other party heard through the line.

        The channel must be ``dominance_db`` quieter than the other for ``crosstalk_share`` of
        the span's sound, and either be ``bleed_db`` quieter at the median moment (clearly the
        other party alone) or the other channel has the same words then (``echoed``, asked only
        when needed).
        """
        difference = self._difference(index, start_s, end_s)
        if len(difference) == 0:
            return False
        quieter = float(np.mean(difference < -self.options.dominance_db))
        if quieter < self.options.crosstalk_share:
            return False
        if float(np.median(difference)) <= -self.options.bleed_db:
            return True
        return echoed() if callable(echoed) else echoed

    def own_spans(self, index: int, start_s: float, end_s: float) -> list[tuple[float, float]]:
        """The parts of [start_s, end_s] in which channel ``index`` holds its own party's voice:
        every moment judged with its neighbours (``span_s``), never the span as a whole."""
        frames = self._frames(start_s, end_s)
        active = self.active[frames]
        if len(active) == 0:
            return []
        difference = self.levels[index, frames] - self.levels[1 - index, frames]
        quiet = active & (difference < -self.options.dominance_db)
        width = max(1, round(self.span_s / self.frame_s))
        kernel = np.ones(width)
        sound = np.convolve(active, kernel, "same")
        drowned = np.convolve(quiet, kernel, "same")
        bleed = (sound > 0) & (drowned >= self.options.crosstalk_share * sound)
        own = active & ~quiet
        least = max(1, round(self.min_own_s / self.frame_s))
        spans = []
        for first, last in _runs(bleed):
            if bleed[first] or own[first:last].sum() < least:
                continue
            t0 = max(start_s, (frames.start + first) * self.frame_s)
            t1 = min(end_s, (frames.start + last) * self.frame_s)
            if t1 > t0:
                spans.append((round(t0, 3), round(t1, 3)))
        return spans


def _norm_word(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


class _Words:
    """One channel's words by time, to ask whether it has a word near a moment."""

    # Longest word looked back for; Whisper stretches a word over a pause now and then.
    longest_s = 10.0

    def __init__(self, segments: list[Segment]) -> None:
        words = sorted((w.start_s, w.end_s, _norm_word(w.text)) for s in segments for w in s.words)
        self.starts = [start for start, _, _ in words]
        self.words = words

    def has(self, words: list[str], start_s: float, end_s: float, within_s: float) -> bool:
        """True when one of ``words`` (or nearly it) is among the words within ``within_s`` of
        the span."""
        from bisect import bisect_left, bisect_right
        from difflib import SequenceMatcher

        first = bisect_left(self.starts, start_s - within_s - self.longest_s)
        last = bisect_right(self.starts, end_s + within_s)
        near = [other for _, end, other in self.words[first:last] if end >= start_s - within_s]
        for word in filter(None, words):
            for other in near:
                if other == word or (
                    min(len(word), len(other)) >= 4
                    and SequenceMatcher(None, word, other).ratio() >= 0.8
                ):
                    return True
        return False


def split_crosstalk(segments: list[Segment], crosstalk: Crosstalk) -> list[Segment]:
    """``segments`` of a two-party recording (``SPEAKER_1`` left, ``SPEAKER_2`` right) without
    the words each channel holds of the other party's voice.

    Pure and model-free: decided per word from the channels' levels at that word's moment and
    the words the other channel has then. A segment that runs across the other party's turns
    is split there, into one segment per run of its own words; nothing one party said is lost
    because the other was louder somewhere else in the segment.
    """
    names = [speaker_label(i) for i in range(2)]
    heard = [_Words([s for s in segments if s.speaker == name]) for name in names]
    within_s = Crosstalk.echo_s
    out: list[Segment] = []
    for segment in segments:
        if segment.speaker not in names:
            out.append(segment)
            continue
        side = names.index(segment.speaker)
        others = heard[1 - side]
        if not segment.words:
            tokens = [_norm_word(t) for t in segment.text.split()]
            echoed = partial(others.has, tokens, segment.start_s, segment.end_s, within_s)
            if not crosstalk.is_bleed(side, segment.start_s, segment.end_s, echoed):
                out.append(segment)
            continue
        keep = [
            not crosstalk.is_bleed(
                side,
                w.start_s,
                w.end_s,
                partial(others.has, [_norm_word(w.text)], w.start_s, w.end_s, within_s),
            )
            for w in segment.words
        ]
        if all(keep):
            out.append(segment)
            continue
        run: list[Word] = []
        for word, kept in [*zip(segment.words, keep, strict=True), (None, False)]:
            if kept and word is not None:
                run.append(word)
            elif run:
                out.append(
                    segment.model_copy(
                        update={
                            "start_s": run[0].start_s,
                            "end_s": run[-1].end_s,
                            "text": _join_words(run),
                            "words": run,
                            "translation": None,
                        }
                    )
                )
                run = []
    out.sort(key=lambda s: (s.start_s, s.end_s))
    return [s.model_copy(update={"id": i}) for i, s in enumerate(out)]


def drop_crosstalk(
    segments: list[Segment], samples: np.ndarray, options: DiarizeOptions | None = None
) -> list[Segment]:
    """Segments of a two-party recording without the words transcribed from crosstalk.

    Each channel is transcribed alone, so the other party's voice leaking into a line (phone
    recordings have it, about 20 dB down) comes out as a second copy of their words; that copy
    is dropped word by word (``split_crosstalk``), the original on the speaker's own channel
    stays, and so does every word a party said over the other.
    """
    return split_crosstalk(segments, Crosstalk.of(samples, options))


def own_speech_regions(
    samples: np.ndarray, index: int, options: DiarizeOptions | None = None
) -> list[tuple[float, float]]:
    """Speech of channel ``index`` of a two-party recording, without the other party's crosstalk."""
    crosstalk = Crosstalk.of(samples, options)
    regions = speech_regions(channel(samples, index))
    return [span for r in regions for span in crosstalk.own_spans(index, *r)]


def diarize_stereo(samples: np.ndarray, options: DiarizeOptions | None = None) -> Diarization:
    """One speaker per channel; turns from each channel's own speech, embeddings for profiles."""
    options = options or DiarizeOptions()
    crosstalk = Crosstalk.of(samples, options)
    turns: list[Turn] = []
    embeddings: dict[str, np.ndarray] = {}
    channels: dict[str, Channel] = {}
    for index, side in enumerate(CHANNELS):
        name = speaker_label(index)
        audio = channel(samples, index)
        regions = [span for r in speech_regions(audio) for span in crosstalk.own_spans(index, *r)]
        turns.extend(Turn(start, end, name) for start, end in regions)
        channels[name] = side
        embedding = embed_speech(audio, regions) if regions else None
        if embedding is not None:
            embeddings[name] = embedding
    turns.sort(key=lambda t: (t.start_s, t.end_s))
    return Diarization(turns=turns, embeddings=embeddings, channels=channels, method="stereo")


# --- voice activity and embeddings ----------------------------------------------------------


def speech_regions(audio: np.ndarray) -> list[tuple[float, float]]:
    """Speech as (start_s, end_s), found by the Silero VAD that ships with faster-whisper."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if len(audio) == 0:
        return []
    vad = VadOptions(min_silence_duration_ms=300, speech_pad_ms=60, min_speech_duration_ms=200)
    stamps = get_speech_timestamps(np.ascontiguousarray(audio, dtype=np.float32), vad)
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


@lru_cache(maxsize=1)
def get_encoder() -> VoiceEncoder:
    """Resemblyzer's GE2E voice encoder from the weights inside its package, on CPU, once."""
    import warnings

    try:
        with warnings.catch_warnings():
            # webrtcvad, imported by resemblyzer, imports the deprecated pkg_resources.
            warnings.simplefilter("ignore")
            from resemblyzer import VoiceEncoder

        encoder = VoiceEncoder("cpu", verbose=False)
    except Exception as exc:  # ImportError, a missing or unreadable pretrained.pt, torch errors
        raise ModelError(
            f"cannot load the speaker encoder (resemblyzer): {exc}. Install the ml extra: "
            "pip install 'sales-call-assistant[ml]'"
        ) from exc
    encoder.eval()
    return encoder


# The encoder's features: 40 mel bands (Slaney scale and norm) of the power spectrum, 25 ms
# Hann windows every 10 ms, as resemblyzer computes them with librosa. Done here in numpy:
# librosa's first call spends seconds compiling, which a one-call CLI run would pay each time.
_N_FFT = 400
_HOP = 160
_N_MELS = 40


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log = hz >= 1000.0
    return np.where(log, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27), mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * (200.0 / 3)
    log = mel >= 15.0
    return np.where(log, 1000.0 * np.exp((np.log(6.4) / 27) * (mel - 15.0)), hz)


@lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    fft_hz = np.linspace(0, SAMPLE_RATE / 2, 1 + _N_FFT // 2)
    edges = _hz_to_mel(np.array([0.0, SAMPLE_RATE / 2]))
    mel_hz = _mel_to_hz(np.linspace(edges[0], edges[1], _N_MELS + 2))
    spacing = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / spacing[:-1, None]
    upper = ramps[2:] / spacing[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2 : _N_MELS + 2] - mel_hz[:_N_MELS]))[:, None]
    return weights.T.astype(np.float32)  # (fft bins, mels)


def mel_spectrogram(wav: np.ndarray, chunk_frames: int = 8192) -> np.ndarray:
    """(frames, 40) float32 mel power spectrogram, frame i centred at i * 10 ms.

    Works through the audio in chunks, so an hour-long call needs no padded copy of itself.
    """
    wav = np.asarray(wav, dtype=np.float32)
    half = _N_FFT // 2
    n_frames = 1 + len(wav) // _HOP
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_N_FFT) / _N_FFT)).astype(np.float32)
    filters = _mel_filters()
    out = np.empty((n_frames, _N_MELS), np.float32)
    for first in range(0, n_frames, chunk_frames):
        last = min(n_frames, first + chunk_frames)
        lo, hi = first * _HOP - half, (last - 1) * _HOP + half
        piece = np.pad(wav[max(0, lo) : hi], (max(0, -lo), max(0, hi - len(wav))))
        frames = np.lib.stride_tricks.sliding_window_view(piece, _N_FFT)[::_HOP]
        spectrum = np.fft.rfft(frames[: last - first] * window, axis=1)
        out[first:last] = (np.abs(spectrum) ** 2) @ filters
    return out


def _mel_frames(audio: np.ndarray, regions: list[tuple[float, float]]) -> np.ndarray:
    """The encoder's input features, loudness set from the speech only."""
    energy = 0.0
    count = 0
    for start, end in regions or [(0.0, len(audio) / SAMPLE_RATE)]:
        part = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)].astype(np.float64)
        energy += float(np.sum(part**2))
        count += len(part)
    rms = float(np.sqrt(energy / count)) if count else 0.0
    # The encoder was trained on audio normalised to -30 dBFS; power scales with gain squared.
    gain = 10 ** (-30 / 20) / rms if rms > 1e-6 else 1.0
    return mel_spectrogram(audio) * np.float32(gain**2)


def _window_starts(regions: list[tuple[float, float]], hop_s: float, total_s: float) -> list[float]:
    starts: list[float] = []
    for start, end in regions:
        if end - start <= WINDOW_S:
            # A short utterance: one window centred on it, borrowing context either side.
            middle = (start + end) / 2
            starts.append(min(max(0.0, middle - WINDOW_S / 2), max(0.0, total_s - WINDOW_S)))
            continue
        t = start
        while t + WINDOW_S <= end + 1e-9:
            starts.append(t)
            t += hop_s
        if starts[-1] + WINDOW_S < end - hop_s / 2:
            starts.append(end - WINDOW_S)
    return starts


_ENCODER_LOCK = threading.Lock()


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """The encoder's LSTM steps are too small to share between threads; on a busy machine the
    waiting threads made it ten times slower than one thread. Set for the call, then restored;
    the lock keeps worker threads from restoring each other's setting."""
    import torch

    with _ENCODER_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def _embed_windows(mel: np.ndarray, starts: list[float], batch: int = 64) -> np.ndarray:
    import torch

    encoder = get_encoder()
    frames = round(WINDOW_S * 100)
    out = []
    for i in range(0, len(starts), batch):
        chunk = []
        for start in starts[i : i + batch]:
            first = round(start * 100)
            window = mel[first : first + frames]
            if len(window) < frames:
                window = np.pad(window, ((0, frames - len(window)), (0, 0)))
            chunk.append(window)
        with torch.inference_mode(), _one_torch_thread():
            out.append(encoder(torch.from_numpy(np.stack(chunk))).numpy())
    if not out:
        return np.zeros((0, 256), np.float32)
    return np.concatenate(out).astype(np.float32)


def embed_windows(
    audio: np.ndarray, regions: list[tuple[float, float]], hop_s: float = 0.4
) -> tuple[np.ndarray, np.ndarray]:
    """Window start times (n,) and L2-normed embeddings (n, 256) over the speech ``regions``."""
    total_s = len(audio) / SAMPLE_RATE
    starts = sorted(_window_starts(regions, hop_s, total_s))
    if not starts:
        return np.zeros(0), np.zeros((0, 256), np.float32)
    get_encoder()  # first: it imports resemblyzer quietly, and fails clearly without it
    mel = _mel_frames(audio, regions)
    return np.asarray(starts), _embed_windows(mel, starts)


def _normed(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def embed_speech(
    audio: np.ndarray, regions: list[tuple[float, float]] | None = None
) -> np.ndarray | None:
    """One voice embedding for all the speech in ``audio`` (None when there is none)."""
    regions = speech_regions(audio) if regions is None else regions
    _, embeddings = embed_windows(audio, regions, hop_s=0.8)
    if len(embeddings) == 0:
        return None
    return _normed(embeddings.mean(axis=0))


# --- clustering -----------------------------------------------------------------------------


def cluster(
    embeddings: np.ndarray,
    speakers: int | None = None,
    threshold: float = 0.35,
    max_speakers: int = 8,
) -> np.ndarray:
    """Cluster labels 0..k-1 for L2-normed ``embeddings``: average linkage on cosine distance."""
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=int)
    if n == 1 or speakers == 1:
        return np.zeros(n, dtype=int)
    tree = linkage(embeddings.astype(np.float64), method="average", metric="cosine")
    if speakers is not None:
        labels = fcluster(tree, t=min(speakers, n), criterion="maxclust")
    else:
        labels = fcluster(tree, t=threshold, criterion="distance")
        if labels.max() > max_speakers:
            labels = fcluster(tree, t=max_speakers, criterion="maxclust")
    return np.asarray(labels, dtype=int) - 1


def spectral_cluster(
    embeddings: np.ndarray,
    speakers: int | None = None,
    max_speakers: int = 8,
    prune_share: float = 0.15,
    same_voice: float = 0.85,
) -> np.ndarray:
    """Cluster labels 0..k-1 for L2-normed ``embeddings`` by spectral clustering.

    Each window keeps edges to its ``prune_share`` most similar windows (so a noise burst's few
    windows cannot bridge two voices); the number of voices is the largest gap between the
    smallest eigenvalues of the graph's normalised Laplacian, at least two, since a call has
    two parties; two voices whose centroids are more alike than ``same_voice`` are then merged,
    so a recording of one person still comes out as one.
    """
    from scipy.cluster.vq import kmeans2

    n = len(embeddings)
    if n < 4 or speakers == 1:
        return np.zeros(n, dtype=int)
    similarity = np.clip(embeddings @ embeddings.T, 0.0, None).astype(np.float64)
    keep = max(2, int(np.ceil(prune_share * n)))
    cut = -np.partition(-similarity, keep - 1, axis=1)[:, keep - 1 : keep]
    affinity = np.where(similarity >= cut, similarity, 0.0)
    affinity = (affinity + affinity.T) / 2
    np.fill_diagonal(affinity, 0.0)
    scale = 1.0 / np.sqrt(affinity.sum(axis=1) + 1e-9)
    laplacian = np.eye(n) - scale[:, None] * affinity * scale[None, :]
    values, vectors = np.linalg.eigh(laplacian)
    most = min(max_speakers, n - 1)
    gaps = np.diff(values[: most + 1])
    k = 2 + int(np.argmax(gaps[1:])) if most >= 2 else 1
    if speakers is not None:
        # k-means straight into ``speakers`` groups can split along something else than the
        # voice (the language, the loudness); the graph's own groups merged down do not.
        k = max(k, min(speakers, n))
    points = vectors[:, :k] / (np.linalg.norm(vectors[:, :k], axis=1, keepdims=True) + 1e-9)
    best, labels = np.inf, np.zeros(n, dtype=int)
    for seed in range(5):
        centres, found = kmeans2(points, k, minit="++", seed=seed)
        inertia = float(np.sum((points - centres[found]) ** 2))
        if inertia < best:
            best, labels = inertia, found
    labels = np.unique(labels, return_inverse=True)[1]
    if speakers is None:
        return _merge_alike(embeddings, labels, same_voice)
    return _merge_alike(embeddings, labels, -np.inf, down_to=speakers)


def _merge_alike(
    embeddings: np.ndarray, labels: np.ndarray, same_voice: float, down_to: int = 1
) -> np.ndarray:
    """Merge the two most alike clusters while their centroids' similarity is ``same_voice``
    or more, and there are more than ``down_to``."""
    labels = labels.copy()
    while len(np.unique(labels)) > down_to:
        ids = np.unique(labels)
        centroids = _centroids(embeddings, labels)
        similarity = centroids @ centroids.T
        np.fill_diagonal(similarity, -np.inf)
        a, b = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
        if similarity[a, b] < same_voice:
            break
        labels[labels == ids[b]] = ids[a]
    return np.unique(labels, return_inverse=True)[1]


def _centroids(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.stack([_normed(embeddings[labels == k].mean(axis=0)) for k in np.unique(labels)])


def _fold_small(
    embeddings: np.ndarray, labels: np.ndarray, weights_s: np.ndarray, min_speaker_s: float
) -> np.ndarray:
    """Fold clusters with little speech into their nearest neighbour (noise, coughs, laughs)."""
    labels = labels.copy()
    while True:
        ids = np.unique(labels)
        if len(ids) < 2:
            return labels
        amount = np.array([weights_s[labels == k].sum() for k in ids])
        smallest = int(np.argmin(amount))
        if amount[smallest] >= min_speaker_s:
            return labels
        centroids = _centroids(embeddings, labels)
        similarity = centroids @ centroids[smallest]
        similarity[smallest] = -np.inf
        labels[labels == ids[smallest]] = ids[int(np.argmax(similarity))]


def _relabel_by_first_turn(labels: np.ndarray, order: np.ndarray) -> np.ndarray:
    mapping: dict[int, int] = {}
    for label in labels[order]:
        mapping.setdefault(int(label), len(mapping))
    return np.array([mapping[int(label)] for label in labels], dtype=int)


# --- turns ----------------------------------------------------------------------------------


def _frame_turns(
    regions: list[tuple[float, float]],
    starts: np.ndarray,
    embeddings: np.ndarray,
    centroids: np.ndarray,
    min_turn_s: float,
) -> list[tuple[float, float, int]]:
    """Label every FRAME_S of speech with the centroid its covering windows resemble most."""
    scores = embeddings @ centroids.T  # (windows, speakers)
    centres = starts + WINDOW_S / 2
    turns: list[tuple[float, float, int]] = []
    for start, end in regions:
        n = max(1, int(np.ceil((end - start) / FRAME_S)))
        times = start + (np.arange(n) + 0.5) * FRAME_S
        labels = np.empty(n, dtype=int)
        # Window starts are sorted: the windows covering t start in [t - WINDOW_S, t].
        firsts = np.searchsorted(starts, times - WINDOW_S, side="left")
        lasts = np.searchsorted(starts, times, side="right")
        for i, t in enumerate(times):
            if lasts[i] > firsts[i]:
                labels[i] = int(np.argmax(scores[firsts[i] : lasts[i]].mean(axis=0)))
            else:
                labels[i] = int(np.argmax(scores[int(np.argmin(np.abs(centres - t)))]))
        labels = _smooth(labels, max(1, round(min_turn_s / FRAME_S)))
        run_start = 0
        for i in range(1, n + 1):
            if i == n or labels[i] != labels[run_start]:
                t0 = start + run_start * FRAME_S
                t1 = min(end, start + i * FRAME_S)
                turns.append((round(t0, 3), round(t1, 3), int(labels[run_start])))
                run_start = i
    return turns


def _smooth(labels: np.ndarray, min_frames: int) -> np.ndarray:
    """Runs shorter than ``min_frames`` take the label of their longer neighbour."""
    labels = labels.copy()
    changed = True
    while changed:
        changed = False
        runs = _runs(labels)
        if len(runs) < 2:
            break
        for index, (first, last) in enumerate(runs):
            if last - first >= min_frames:
                continue
            before = runs[index - 1] if index > 0 else None
            after = runs[index + 1] if index + 1 < len(runs) else None
            longer = max((r for r in (before, after) if r is not None), key=lambda r: r[1] - r[0])
            labels[first:last] = labels[longer[0]]
            changed = True
            break
    return labels


def _runs(labels: np.ndarray) -> list[tuple[int, int]]:
    runs = []
    first = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[first]:
            runs.append((first, i))
            first = i
    return runs


def diarize_mono(audio: np.ndarray, options: DiarizeOptions | None = None) -> Diarization:
    """Speaker turns of a mono recording (16 kHz float32), found from the voices alone."""
    options = options or DiarizeOptions()
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    regions = speech_regions(audio)
    starts, embeddings = embed_windows(audio, regions, options.hop_s)
    if len(embeddings) == 0:
        return Diarization(turns=[], method="embedding")
    pick = np.arange(len(embeddings))
    most = (
        options.max_spectral_windows
        if options.method == "spectral"
        else options.max_cluster_windows
    )
    if len(pick) > most:
        pick = np.linspace(0, len(embeddings) - 1, most).astype(int)
    if options.method == "spectral":
        labels = spectral_cluster(
            embeddings[pick],
            options.speakers,
            options.max_speakers,
            options.prune_share,
            options.same_voice,
        )
    else:
        labels = cluster(
            embeddings[pick], options.speakers, options.threshold, options.max_speakers
        )
    if options.speakers is None:
        weight_s = np.full(len(pick), options.hop_s * len(embeddings) / len(pick))
        speech_s = sum(end - start for start, end in regions)
        least_s = max(options.min_speaker_s, options.min_speaker_share * speech_s)
        labels = _fold_small(embeddings[pick], labels, weight_s, least_s)
    centroids = _centroids(embeddings[pick], labels)
    raw = _frame_turns(regions, starts, embeddings, centroids, options.min_turn_s)
    # Name speakers in order of first appearance; keep only speakers that still hold speech.
    order: dict[int, int] = {}
    for _, _, k in raw:
        order.setdefault(k, len(order))
    turns = [Turn(s, e, speaker_label(order[k])) for s, e, k in raw]
    embeddings_by_speaker = {speaker_label(order[k]): centroids[k] for k in order}
    return Diarization(turns=_join(turns), embeddings=embeddings_by_speaker, method="embedding")


def _join(turns: list[Turn], gap_s: float = 1e-6) -> list[Turn]:
    joined: list[Turn] = []
    for turn in turns:
        if (
            joined
            and joined[-1].speaker == turn.speaker
            and turn.start_s - joined[-1].end_s <= gap_s
        ):
            joined[-1] = Turn(joined[-1].start_s, turn.end_s, turn.speaker)
        else:
            joined.append(turn)
    return joined


# --- segments and words ---------------------------------------------------------------------


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def speaker_at(turns: list[Turn], start_s: float, end_s: float) -> str | None:
    """The speaker who overlaps [start_s, end_s] most, else the nearest in time."""
    if not turns:
        return None
    talk: dict[str, float] = {}
    for turn in turns:
        if turn.start_s < end_s and turn.end_s > start_s:
            overlap = _overlap(start_s, end_s, turn.start_s, turn.end_s)
            talk[turn.speaker] = talk.get(turn.speaker, 0.0) + overlap
    if talk:
        return max(talk, key=lambda who: talk[who])
    middle = (start_s + end_s) / 2

    def distance(turn: Turn) -> float:
        return max(turn.start_s - middle, middle - turn.end_s, 0.0)

    return min(turns, key=distance).speaker


def assign_speakers(segments: list[Segment], turns: list[Turn]) -> list[Segment]:
    """Give every word and segment a speaker; split segments where the speaker changes.

    Pure and model-free. No text is dropped: every word lands in exactly one output segment.
    A single word that flips speaker between two words of the same speaker keeps theirs.
    """
    out: list[Segment] = []
    for segment in segments:
        if not segment.words:
            speaker = speaker_at(turns, segment.start_s, segment.end_s)
            out.append(segment.model_copy(update={"id": len(out), "speaker": speaker}))
            continue
        speakers = [speaker_at(turns, w.start_s, w.end_s) for w in segment.words]
        for i in range(1, len(speakers) - 1):
            if speakers[i - 1] == speakers[i + 1] != speakers[i]:
                speakers[i] = speakers[i - 1]
        words = [
            w.model_copy(update={"speaker": s})
            for w, s in zip(segment.words, speakers, strict=True)
        ]
        groups: list[list[Word]] = []
        for word in words:
            if groups and groups[-1][-1].speaker == word.speaker:
                groups[-1].append(word)
            else:
                groups.append([word])
        if len(groups) == 1:
            out.append(
                segment.model_copy(
                    update={"id": len(out), "speaker": groups[0][0].speaker, "words": words}
                )
            )
            continue
        for group in groups:
            out.append(
                segment.model_copy(
                    update={
                        "id": len(out),
                        "start_s": group[0].start_s,
                        "end_s": group[-1].end_s,
                        "text": _join_words(group),
                        "words": group,
                        "speaker": group[0].speaker,
                        "translation": None,
                    }
                )
            )
    return out


def _join_words(words: list[Word]) -> str:
    return " ".join(w.text.strip() for w in words if w.text.strip())


def find_speakers(
    samples: np.ndarray, segments: list[Segment], options: DiarizeOptions | None = None
) -> tuple[list[Segment], Diarization]:
    """Find speakers in decoded audio ``samples`` (channels, n) and assign them to ``segments``.

    Two-party stereo keeps the speakers ``merge_channels`` gave the segments; anything else is
    diarized from the mixed-down voice.
    """
    options = options or DiarizeOptions()
    if samples.ndim == 1:
        samples = samples[np.newaxis, :]
    if samples.shape[1] == 0:
        raise EmptyAudioError("no audio to find speakers in")
    if is_two_party(samples, options):
        diarization = diarize_stereo(samples, options)
        if any(s.speaker is None for s in segments):
            segments = assign_speakers(segments, diarization.turns)
        return drop_crosstalk(segments, samples, options), diarization
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
) -> DiarizeResult:
    """The diarize stage for a recording: speakers found, named, given roles, put on segments."""
    from assistant.roles import apply_roles, assign_roles, rename_turns

    options = options or DiarizeOptions()
    segments, diarization = find_speakers(samples, segments, options)
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
    from assistant.roles import apply_roles, assign_roles

    diarization = Diarization(turns=[], method="none")
    if all(s.speaker is None for s in segments):
        return DiarizeResult(list(segments), [], [], diarization)
    speakers = assign_roles(segments, diarization, profiles, options)
    return DiarizeResult(apply_roles(segments, speakers), list(speakers.values()), [], diarization)


def merge_transcripts(left: Transcript, right: Transcript) -> Transcript:
    """The transcripts of the two channels as one, segments merged by time."""
    languages: Counter[str] = Counter()
    for part in (left, right):
        languages.update(part.languages or ({part.language: 1.0} if part.language else {}))
    language = languages.most_common(1)[0][0] if languages else left.language
    main = left if language == left.language else right
    return replace(
        main,
        language=language,
        segments=merge_channels(left.segments, right.segments),
        languages=dict(languages),
    )
