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
from assistant.report import overlap_s


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5
    min_speech_duration_ms: int = 0
    min_silence_duration_ms: int = 2000
    speech_pad_ms: int = 400
    # Longer speech is split at its last pause before this (padded, it still fits one block the
    # runner decodes), so blocks are cut between words, not inside them.
    max_speech_s: float = 23.0


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
            max_speech_duration_s=o.max_speech_s,
        ),
    )
    spans: list[tuple[int, int]] = []
    for chunk in found:
        start, end = max(0, int(chunk["start"])), min(len(audio), int(chunk["end"]))
        if spans and start < spans[-1][1]:
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

    def original_s(self, joined_s: float, is_end: bool = False, edge_s: float = 0.25) -> float:
        """The original time of ``joined_s``.

        Near a boundary between spans (within ``edge_s``, which is VAD padding, not speech), a
        start moves to the span after it and an end stays in the span before it, so nothing
        stretches over the silence that was cut out.
        """
        if not self.spans:
            return joined_s
        sample = joined_s * SAMPLE_RATE
        edge = edge_s * SAMPLE_RATE
        i = max(bisect_right(self._joined_starts, sample) - 1, 0)
        span_start, span_end = self.spans[i]
        into = sample - self._joined_starts[i]
        length = span_end - span_start
        if not is_end and i + 1 < len(self.spans) and into >= length - edge:
            return self.spans[i + 1][0] / SAMPLE_RATE
        if is_end and i > 0 and into <= edge:
            return self.spans[i - 1][1] / SAMPLE_RATE
        return min(span_start + into, span_end) / SAMPLE_RATE

    def original_range_s(self, start_s: float, end_s: float) -> tuple[float, float]:
        """Original times of a short stretch (a word): both ends in the span of its midpoint."""
        if not self.spans:
            return start_s, end_s
        middle = (start_s + end_s) / 2 * SAMPLE_RATE
        i = max(bisect_right(self._joined_starts, middle) - 1, 0)
        span_start, span_end = self.spans[i]
        j0 = self._joined_starts[i]

        def place(t: float) -> float:
            return min(max(span_start + t * SAMPLE_RATE - j0, span_start), span_end) / SAMPLE_RATE

        return place(start_s), place(end_s)

    def speech_fraction(self, start_s: float, end_s: float) -> float:
        """How much of ``[start_s, end_s]`` (original seconds) is inside speech spans."""
        if end_s <= start_s:
            return 0.0
        lo, hi = start_s * SAMPLE_RATE, end_s * SAMPLE_RATE
        inside = sum(overlap_s(lo, hi, s, e) for s, e in self.spans)
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


def pause_near_middle(audio: np.ndarray, start_s: float, end_s: float) -> float:
    """The quietest moment (20 ms frames) in the middle third of ``audio[start_s:end_s]``: where
    to cut it in two between words."""
    frame = SAMPLE_RATE // 50
    third = (end_s - start_s) / 3
    lo, hi = int((start_s + third) * SAMPLE_RATE), int((end_s - third) * SAMPLE_RATE)
    n = (hi - lo) // frame
    if n < 1:
        return (start_s + end_s) / 2
    power = np.square(audio[lo : lo + n * frame].reshape(n, frame), dtype=np.float64).mean(axis=1)
    return (lo + int(np.argmin(power)) * frame + frame // 2) / SAMPLE_RATE


def rms_dbfs(audio: np.ndarray) -> float:
    """Loudness of ``audio`` in dB below full scale (-inf for digital silence)."""
    if len(audio) == 0:
        return float("-inf")
    power = float(np.mean(np.square(audio, dtype=np.float64)))
    return 10 * np.log10(power) if power > 0 else float("-inf")
