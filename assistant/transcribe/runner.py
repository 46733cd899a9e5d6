"""The engine-neutral part of transcription: what both engines do the same way.

For each window of a long recording (cut in pauses, so memory stays bounded)::

    VAD -> speech only -> language per ~30 s block -> decode runs of one language
        -> (translate) -> times back to the recording -> hallucination guards

An engine (``Backend``) only detects a language and decodes speech-only audio it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from assistant.errors import OptionError
from assistant.media import SAMPLE_RATE
from assistant.report import Segment, Word
from assistant.transcribe import Progress, TranscribeOptions, Transcript
from assistant.transcribe.guards import (
    Decoded,
    GuardOptions,
    audio_under,
    count_reasons,
    drop_loops,
    drop_reason,
    peak_level,
)
from assistant.transcribe.vad import SpeechMap, speech_blocks, speech_spans
from assistant.transcribe.windows import windows

# Whisper sees 30 s at a time; language is checked per block of this much speech.
LANGUAGE_BLOCK_S = 30.0
# A block shorter than this, or detected with less confidence, takes its neighbour's language.
MIN_LANGUAGE_BLOCK_S = 4.0
MIN_LANGUAGE_PROBABILITY = 0.5


class Backend(Protocol):
    name: str
    model_name: str
    compute_type: str
    multilingual: bool

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        """The most likely language of (the first 30 s of) ``audio`` and its probability."""
        ...

    def decode(
        self, audio: np.ndarray, language: str, task: str, options: TranscribeOptions
    ) -> list[Decoded]:
        """Decode speech-only ``audio`` (``task``: transcribe or translate) without VAD."""
        ...


@dataclass(frozen=True)
class _Run:
    start_s: float  # joined (speech-only) seconds
    end_s: float
    language: str
    probability: float


def _smooth(blocks: list[tuple[float, float, str, float]]) -> list[tuple[float, float, str, float]]:
    """Short or unsure blocks take the language of the block before them (or after, first)."""
    firm = [
        (e - s) >= MIN_LANGUAGE_BLOCK_S and p >= MIN_LANGUAGE_PROBABILITY for s, e, _, p in blocks
    ]
    if not any(firm):
        return blocks
    out = list(blocks)
    first_firm = firm.index(True)
    for i, (s, e, _, p) in enumerate(out):
        if firm[i]:
            continue
        donor = out[i - 1] if i > first_firm else out[first_firm]
        out[i] = (s, e, donor[2], p)
    return out


def _runs(blocks: list[tuple[float, float, str, float]]) -> list[_Run]:
    runs: list[_Run] = []
    for s, e, lang, p in blocks:
        if runs and runs[-1].language == lang:
            last = runs[-1]
            runs[-1] = _Run(last.start_s, e, lang, max(last.probability, p))
        else:
            runs.append(_Run(s, e, lang, p))
    return runs


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _attach_translations(segments: list[Decoded], translated: list[Decoded]) -> list[str | None]:
    """Each translated piece goes to the source segment it overlaps most in time."""
    parts: list[list[str]] = [[] for _ in segments]
    for t in translated:
        if not segments or not t.text.strip():
            continue
        best = max(
            range(len(segments)),
            key=lambda i: (
                _overlap(segments[i].start_s, segments[i].end_s, t.start_s, t.end_s),
                -abs(segments[i].start_s - t.start_s),
            ),
        )
        parts[best].append(t.text.strip())
    return [" ".join(p) if p else None for p in parts]


class WhisperTranscriber:
    """A ``Transcriber`` over any ``Backend``: same windows, VAD, languages and guards."""

    def __init__(self, backend: Backend, guards: GuardOptions | None = None) -> None:
        self.backend = backend
        self.name = backend.name
        self.model_name = backend.model_name
        self.guards = guards or GuardOptions()

    def _languages(
        self, speech: np.ndarray, spans_s: list[tuple[float, float]], options: TranscribeOptions
    ) -> list[_Run]:
        total_s = len(speech) / SAMPLE_RATE
        if options.language is not None:
            return [_Run(0.0, total_s, options.language, 1.0)]
        if not self.backend.multilingual:
            return [_Run(0.0, total_s, "en", 1.0)]
        if not options.language_check:
            lang, p = self.backend.detect_language(speech)
            return [_Run(0.0, total_s, lang, p)]
        blocks = []
        for s, e in speech_blocks(spans_s, LANGUAGE_BLOCK_S):
            lang, p = self.backend.detect_language(
                speech[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)]
            )
            blocks.append((s, e, lang, p))
        return _runs(_smooth(blocks))

    def transcribe(
        self, audio: np.ndarray, options: TranscribeOptions, progress: Progress | None = None
    ) -> Transcript:
        if not self.backend.multilingual and options.language not in (None, "en"):
            raise OptionError(
                f"model {self.model_name!r} is English-only; use a multilingual model such as "
                f"'base' for language {options.language!r}"
            )
        audio = np.asarray(audio, dtype=np.float32)
        total_s = max(len(audio) / SAMPLE_RATE, 1e-9)
        segments: list[Segment] = []
        dropped: list[str] = []
        weights: dict[str, list[float]] = {}
        for offset_s, window in windows(audio, options.window_s):
            spans = speech_spans(window) if options.vad else [(0, len(window))]
            speech_map = SpeechMap(spans)
            speech = speech_map.join(window)
            if len(speech) < SAMPLE_RATE // 10:
                continue
            peak_dbfs = peak_level(window)
            for run in self._languages(speech, speech_map.joined_spans_s(), options):
                piece = speech[int(run.start_s * SAMPLE_RATE) : int(run.end_s * SAMPLE_RATE)]
                decoded = self.backend.decode(piece, run.language, "transcribe", options)
                translations: list[str | None] = [None] * len(decoded)
                if options.translate and run.language != "en" and decoded:
                    translated = self.backend.decode(piece, run.language, "translate", options)
                    translations = _attach_translations(decoded, translated)
                kept = drop_loops([d.text for d in decoded], self.guards.max_repeats)
                for d, translation, keep in zip(decoded, translations, kept, strict=True):
                    if not keep:
                        dropped.append("loop")
                        continue
                    segment = self._restore(d, run, speech_map, offset_s, len(segments))
                    segment = segment.model_copy(
                        update={"language": run.language, "translation": translation}
                    )
                    local0, local1 = segment.start_s - offset_s, segment.end_s - offset_s
                    reason = drop_reason(
                        d,
                        audio_under(window, local0, local1),
                        self.guards,
                        speech_map.speech_fraction(local0, local1) if options.vad else None,
                        peak_dbfs,
                    )
                    if reason:
                        dropped.append(reason)
                        continue
                    segments.append(segment)
                    weights.setdefault(run.language, [0.0, 0.0])
                    w = weights[run.language]
                    w[0] += segment.end_s - segment.start_s
                    w[1] += (segment.end_s - segment.start_s) * run.probability
                if progress:
                    end_s = offset_s + speech_map.original_s(run.end_s, is_end=True)
                    progress(min(1.0, end_s / total_s))
        segments = _monotonic(segments)
        speech_s = {k: v[0] for k, v in weights.items()}
        detected = max(speech_s, key=lambda k: speech_s[k]) if speech_s else options.language
        if detected is None and not self.backend.multilingual:
            detected = "en"
        probability = (
            weights[detected][1] / weights[detected][0]
            if detected in weights and weights[detected][0] > 0
            else 0.0
        )
        return Transcript(
            language=detected,
            language_probability=round(probability, 4),
            segments=segments,
            engine=self.backend.name,
            model=self.backend.model_name,
            compute_type=self.backend.compute_type,
            languages={k: round(v, 2) for k, v in speech_s.items()},
            dropped=count_reasons(dropped),
        )

    @staticmethod
    def _restore(
        d: Decoded, run: _Run, speech_map: SpeechMap, offset_s: float, index: int
    ) -> Segment:
        def to_s(t: float, is_end: bool = False) -> float:
            return round(offset_s + speech_map.original_s(run.start_s + t, is_end), 3)

        start, end = to_s(d.start_s), to_s(d.end_s, is_end=True)
        words = []
        for w0, w1, text, prob in d.words:
            ws, we = speech_map.original_range_s(run.start_s + w0, run.start_s + w1)
            ws, we = round(offset_s + ws, 3), round(offset_s + we, 3)
            words.append(
                Word(start_s=ws, end_s=max(ws, we), text=text.strip(), probability=round(prob, 4))
            )
        if words:
            # Words are placed one by one, so they bound the segment better than its own times.
            start, end = words[0].start_s, max(w.end_s for w in words)
        return Segment(
            id=index, start_s=start, end_s=max(start, end), text=d.text.strip(), words=words
        )


def _monotonic(segments: list[Segment]) -> list[Segment]:
    """Renumber, and make times never go backwards: segments by start, words inside them."""
    out: list[Segment] = []
    last_start = 0.0
    for i, seg in enumerate(sorted(segments, key=lambda s: s.start_s)):
        start = max(seg.start_s, last_start)
        end = max(seg.end_s, start)
        words = []
        previous = start
        for w in seg.words:
            ws = min(max(w.start_s, previous), end)
            we = min(max(w.end_s, ws), end)
            words.append(w.model_copy(update={"start_s": ws, "end_s": we}))
            previous = ws
        out.append(seg.model_copy(update={"id": i, "start_s": start, "end_s": end, "words": words}))
        last_start = start
    return out
