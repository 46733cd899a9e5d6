"""Hallucination guards: text Whisper is known to invent is dropped before anyone reads it.

Whisper was trained on subtitles, so over silence or noise it likes to write what subtitles say
when nothing is said ("Thank you for watching", "Untertitel im Auftrag des ZDF"), or it loops on
one phrase. Each guard is a pure function of a decoded segment and the audio under it, so it is
tested without a model. A dropped segment is kept out of the transcript; its reason is counted.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from assistant.media import SAMPLE_RATE
from assistant.transcribe.vad import rms_dbfs

# Normalised (lower case, letters and spaces) phrases Whisper writes over silence.
SILENCE_PHRASES = frozenset(
    {
        "thank you",
        "thank you very much",
        "thanks for watching",
        "thank you for watching",
        "thank you so much for watching",
        "thanks for listening",
        "thank you for listening",
        "please subscribe",
        "please subscribe to my channel",
        "subscribe to my channel",
        "dont forget to like and subscribe",
        "like and subscribe",
        "see you next time",
        "see you in the next video",
        "bye",
        "bye bye",
        "you",
        "music",
        "applause",
        "silence",
        "vielen dank",
        "danke",
        "danke schön",
        "vielen dank fürs zuschauen",
        "danke fürs zuschauen",
        "vielen dank für ihre aufmerksamkeit",
        "bis zum nächsten mal",
        "tschüss",
        "untertitel im auftrag des zdf",
        "untertitel im auftrag des zdf 2017",
        "untertitel im auftrag des zdf 2018",
        "untertitel im auftrag des zdf 2020",
        "untertitel im auftrag des zdf 2021",
        "untertitel der amaraorg community",
        "untertitelung des zdf 2020",
        "swr 2020",
        "copyright wdr 2021",
        "musik",
    }
)
_SUBTITLE_CREDIT = re.compile(r"^(untertitel|subtitles|captions)\b.*\b(by|von|der|des|im)\b")


@dataclass(frozen=True)
class GuardOptions:
    # A segment whose text compresses better than this repeats itself (Whisper's own limit).
    max_compression_ratio: float = 2.4
    # Audio quieter than this, or this far below the loudest moments of the recording, is
    # "near-silent". Generous, because real speech can be quiet: FLEURS clips speak at about
    # -60 dBFS, and a soft speaker on a loud line sits 40 dB below the other party.
    silence_dbfs: float = -70.0
    silence_below_peak_db: float = 60.0
    # Whisper's no-speech probability above which, with low confidence, text is over non-speech.
    no_speech_prob: float = 0.6
    min_avg_logprob: float = -1.0
    # Stretches the VAD found no speech in (only checked when VAD ran).
    min_speech_fraction: float = 0.1
    # The same text this many times in a row is a loop; the repeats are dropped.
    max_repeats: int = 2


@dataclass(frozen=True)
class Decoded:
    """One segment as an engine decoded it, times in seconds of the audio it was given."""

    start_s: float
    end_s: float
    text: str
    words: list[tuple[float, float, str, float]] = field(default_factory=list)
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\s]", "", text)
    return " ".join(text.split())


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def is_silence_phrase(text: str) -> bool:
    norm = normalize(text)
    return norm in SILENCE_PHRASES or bool(_SUBTITLE_CREDIT.match(norm))


def drop_reason(
    segment: Decoded,
    audio: np.ndarray,
    options: GuardOptions,
    speech_fraction: float | None = None,
    peak_dbfs: float = 0.0,
) -> str | None:
    """Why ``segment`` should be dropped, or None to keep it.

    ``audio`` is what lies under the segment; ``peak_dbfs`` the level of the loudest moments
    around it (``peak_level``); ``speech_fraction`` how much of it the VAD heard as speech.
    """
    text = segment.text.strip()
    if not normalize(text):
        return "empty"
    if compression_ratio(text) > options.max_compression_ratio:
        return "repetition"
    level = rms_dbfs(audio)
    quiet = level < options.silence_dbfs or level < peak_dbfs - options.silence_below_peak_db
    unsure = (
        segment.no_speech_prob > options.no_speech_prob
        and segment.avg_logprob < options.min_avg_logprob
    )
    if is_silence_phrase(text) and (quiet or unsure or segment.no_speech_prob > 0.5):
        return "silence phrase"
    if quiet:
        return "near-silent audio"
    if unsure:
        return "non-speech"
    if speech_fraction is not None and speech_fraction < options.min_speech_fraction:
        return "non-speech"
    return None


def drop_loops(texts: list[str], max_repeats: int) -> list[bool]:
    """Which items to keep: runs of the same normalised text are cut after ``max_repeats``."""
    keep: list[bool] = []
    run = 0
    previous = None
    for text in texts:
        norm = normalize(text)
        run = run + 1 if norm == previous else 1
        previous = norm
        keep.append(run <= max_repeats)
    return keep


def peak_level(audio: np.ndarray, quantile: float = 0.99) -> float:
    """dBFS of the loudest 100 ms frames (the ``quantile`` of frame levels) of ``audio``."""
    frame = SAMPLE_RATE // 10
    n = len(audio) // frame
    if n == 0:
        return rms_dbfs(audio)
    power = np.square(audio[: n * frame].reshape(n, frame), dtype=np.float64).mean(axis=1)
    top = float(np.quantile(power, quantile))
    return 10 * np.log10(top) if top > 0 else float("-inf")


def audio_under(audio: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    return audio[max(0, int(start_s * SAMPLE_RATE)) : max(0, int(end_s * SAMPLE_RATE))]


def count_reasons(reasons: list[str]) -> dict[str, int]:
    return dict(Counter(reasons))
