"""Two-party stereo: one party per channel, decided from loudness; crosstalk dropped per word."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from assistant.diarize.assign import join_words, runs
from assistant.diarize.types import (
    CHANNELS,
    Channel,
    Diarization,
    DiarizeOptions,
    Turn,
    speaker_label,
)
from assistant.diarize.voices import embed_speech, speech_regions
from assistant.media import SAMPLE_RATE
from assistant.report import Segment, Word

if TYPE_CHECKING:
    from assistant.transcribe import Transcript


def frame_levels_db(samples: np.ndarray, frame: int = 480) -> np.ndarray:
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


def is_two_party(
    samples: np.ndarray, options: DiarizeOptions | None = None, levels: np.ndarray | None = None
) -> bool:
    """True when ``samples`` (channels, n) holds one party per channel.

    Decided from the channels' loudness over time, not from the waveforms: while someone speaks
    in a two-party recording, their channel is far louder than the other one (``dominance_db``),
    in most moments and for both channels. The same signal twice, a silent channel, and a room
    recorded with two microphones (both channels hear everybody, a few dB apart) are not.
    ``levels``: the channels' ``frame_levels_db``, when the caller has them already.
    """
    options = options or DiarizeOptions()
    if samples.ndim != 2 or samples.shape[0] != 2 or samples.shape[1] < SAMPLE_RATE // 2:
        return False
    levels = frame_levels_db(samples) if levels is None else levels
    loudest = levels.max(axis=0)
    active = loudest > np.percentile(loudest, 99) - 40.0
    if active.sum() < 10:
        return False
    difference = levels[0, active] - levels[1, active]
    left = float(np.mean(difference > options.dominance_db))
    right = float(np.mean(difference < -options.dominance_db))
    return left + right >= options.dominant_share and min(left, right) >= options.min_party_share


def two_parties(samples: np.ndarray, options: DiarizeOptions | None = None) -> Crosstalk | None:
    """Decided once per recording: the crosstalk judge of a two-party recording (one party per
    channel), or None when the recording is to be treated as mono. The channels' loudness is
    measured once and serves both the decision and, moment by moment, the crosstalk."""
    options = options or DiarizeOptions()
    if samples.ndim != 2 or samples.shape[0] != 2:
        return None
    levels = frame_levels_db(samples)
    return Crosstalk(levels, options) if is_two_party(samples, options, levels) else None


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
        return cls(frame_levels_db(samples), options)

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
        for first, last in runs(bleed):
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
                            "text": join_words(run),
                            "words": run,
                            "translation": None,
                        }
                    )
                )
                run = []
    out.sort(key=lambda s: (s.start_s, s.end_s))
    return [s.model_copy(update={"id": i}) for i, s in enumerate(out)]


def drop_crosstalk(
    segments: list[Segment],
    samples: np.ndarray,
    options: DiarizeOptions | None = None,
    crosstalk: Crosstalk | None = None,
) -> list[Segment]:
    """Segments of a two-party recording without the words transcribed from crosstalk.

    Each channel is transcribed alone, so the other party's voice leaking into a line (phone
    recordings have it, about 20 dB down) comes out as a second copy of their words; that copy
    is dropped word by word (``split_crosstalk``), the original on the speaker's own channel
    stays, and so does every word a party said over the other.
    """
    return split_crosstalk(segments, crosstalk or Crosstalk.of(samples, options))


def own_speech_regions(
    samples: np.ndarray, index: int, options: DiarizeOptions | None = None
) -> list[tuple[float, float]]:
    """Speech of channel ``index`` of a two-party recording, without the other party's crosstalk."""
    crosstalk = Crosstalk.of(samples, options)
    regions = speech_regions(channel(samples, index))
    return [span for r in regions for span in crosstalk.own_spans(index, *r)]


def diarize_stereo(
    samples: np.ndarray, options: DiarizeOptions | None = None, crosstalk: Crosstalk | None = None
) -> Diarization:
    """One speaker per channel; turns from each channel's own speech, embeddings for profiles."""
    options = options or DiarizeOptions()
    crosstalk = crosstalk or Crosstalk.of(samples, options)
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
