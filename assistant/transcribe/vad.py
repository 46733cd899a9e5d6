"""Voice activity: where the speech is, and how times in speech-only audio map back.

Both engines decode only the speech (Silero VAD, shipped with faster-whisper), so silence never
reaches the decoder and never turns into invented text. ``SpeechMap`` turns a time in the
concatenated speech back into a time in the recording.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from assistant.media import SAMPLE_RATE


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5
    min_speech_duration_ms: int = 0
    min_silence_duration_ms: int = 2000
    speech_pad_ms: int = 400


def speech_spans(audio: np.ndarray, options: VadOptions | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` sample ranges of speech in ``audio``, in order, not overlapping."""
    from faster_whisper.vad import VadOptions as SileroOptions
    from faster_whisper.vad import get_speech_timestamps

    o = options or VadOptions()
    if len(audio) < SAMPLE_RATE // 10:
        return []
    found = get_speech_timestamps(
        audio,
        SileroOptions(
            threshold=o.threshold,
            min_speech_duration_ms=o.min_speech_duration_ms,
            min_silence_duration_ms=o.min_silence_duration_ms,
            speech_pad_ms=o.speech_pad_ms,
        ),
    )
    spans: list[tuple[int, int]] = []
    for chunk in found:
        start, end = max(0, int(chunk["start"])), min(len(audio), int(chunk["end"]))
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        elif end > start:
            spans.append((start, end))
    return spans


class SpeechMap:
    """Maps seconds in the concatenation of ``spans`` back to seconds in the original audio."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.spans = spans
        self._joined_starts: list[int] = []
        total = 0
        for start, end in spans:
            self._joined_starts.append(total)
            total += end - start
        self.speech_samples = total

    def joined_spans_s(self) -> list[tuple[float, float]]:
        """The spans' places in the concatenated speech, in seconds."""
        return [
            (j / SAMPLE_RATE, (j + e - s) / SAMPLE_RATE)
            for j, (s, e) in zip(self._joined_starts, self.spans, strict=True)
        ]

    def join(self, audio: np.ndarray) -> np.ndarray:
        """The speech of ``audio``, concatenated."""
        if not self.spans:
            return audio[:0]
        return np.concatenate([audio[s:e] for s, e in self.spans])

    def original_s(self, joined_s: float, is_end: bool = False) -> float:
        """The original time of ``joined_s``; an end that falls on a span boundary stays in the
        span before it, a start moves to the span after it."""
        if not self.spans:
            return joined_s
        sample = joined_s * SAMPLE_RATE
        i = bisect_right(self._joined_starts, sample) - 1
        if is_end and i > 0 and sample <= self._joined_starts[i]:
            i -= 1
        i = max(i, 0)
        start, end = self.spans[i]
        return min(start + sample - self._joined_starts[i], end) / SAMPLE_RATE

    def speech_fraction(self, start_s: float, end_s: float) -> float:
        """How much of ``[start_s, end_s]`` (original seconds) is inside speech spans."""
        if end_s <= start_s:
            return 0.0
        lo, hi = start_s * SAMPLE_RATE, end_s * SAMPLE_RATE
        inside = sum(max(0.0, min(hi, e) - max(lo, s)) for s, e in self.spans)
        return inside / (hi - lo)


def speech_blocks(spans_s: list[tuple[float, float]], block_s: float) -> list[tuple[float, float]]:
    """Group consecutive speech (joined-time seconds) into blocks of at most ``block_s``,
    cutting between spans where possible; a span longer than ``block_s`` is cut inside."""
    blocks: list[tuple[float, float]] = []
    for start, end in spans_s:
        if blocks and end - blocks[-1][0] <= block_s:
            blocks[-1] = (blocks[-1][0], end)
            continue
        while end - start > block_s:
            blocks.append((start, start + block_s))
            start += block_s
        blocks.append((start, end))
    return blocks


def rms_dbfs(audio: np.ndarray) -> float:
    """Loudness of ``audio`` in dB below full scale (-inf for digital silence)."""
    if len(audio) == 0:
        return float("-inf")
    power = float(np.mean(np.square(audio, dtype=np.float64)))
    return 10 * np.log10(power) if power > 0 else float("-inf")
