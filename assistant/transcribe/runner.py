"""The engine-neutral part of transcription: what both engines do the same way.

For each window of a long recording (cut in pauses, so memory stays bounded)::

    VAD -> speech only -> blocks of <= 24 s -> language per block (and per turn in it)
        -> decode runs of one language -> unsure segments: their own language checked
        -> (translate) -> times back to the recording -> hallucination guards

An engine (``Backend``) only detects the language of blocks of speech and decodes runs of
consecutive blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from assistant.errors import OptionError
from assistant.languages import function_word_counts
from assistant.media import SAMPLE_RATE
from assistant.report import Segment, Word, overlap_s
from assistant.transcribe.guards import (
    Decoded,
    GuardOptions,
    audio_under,
    compression_ratio,
    count_reasons,
    drop_loops,
    drop_reason,
    peak_level,
)
from assistant.transcribe.types import Progress, TranscribeOptions, Transcript
from assistant.transcribe.vad import SpeechMap, pause_near_middle, speech_blocks, speech_spans
from assistant.transcribe.windows import windows

# Speech is decoded, and its language checked, in blocks of at most this much (Whisper sees 30 s
# at a time). On the 10-minute English benchmark set, blocks of 20 to 28 s gave word error rates
# from 5.8% to 7.7% with no trend; 24 s was the lowest.
BLOCK_S = 24.0
# A block shorter than this, or detected with less confidence, takes its neighbour's language.
MIN_LANGUAGE_BLOCK_S = 4.0
MIN_LANGUAGE_PROBABILITY = 0.5
# A block detected with less confidence is checked again in halves, halves of halves at most.
SURE_LANGUAGE_PROBABILITY = 0.8
LANGUAGE_SPLITS = 2
# A block holding several turns (speech between the pauses the VAD cut at) has the language of
# each turn of at least MIN_TURN_S checked too: a 3 s English answer between German turns hardly
# moves the language detected for the whole block. A turn keeps a language other than its
# block's, short as it may be, only when the model is this sure of it.
MIN_TURN_S = 1.5
SURE_TURN_PROBABILITY = 0.9
# Turns with shorter pauses between them share a VAD span, so a turn in another language is
# decoded in the language of its block: its words then come out unsure (0.66 on average for a
# 3.5 s English answer decoded as German, 0.83 to 0.94 for the German around it). A segment of
# at least MIN_TURN_S whose words are less sure than this on average has its own language
# checked, and is decoded again in another language the model is sure of.
UNSURE_WORDS_PROBABILITY = 0.75
RECHECK_PAD_S = 0.3
# Whisper may also write such a turn down in its own language, with sure words, while the run
# is labelled with the block's: a segment with at least this many function words of another
# language, and more of them than of its run's, has its audio's language checked as well.
OTHER_LANGUAGE_WORDS = 2


class Backend(Protocol):
    name: str
    model_name: str
    compute_type: str
    multilingual: bool

    def detect_languages(self, blocks: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """The most likely language of each block (at most 24 s of speech) and its probability."""
        ...

    def decode(
        self, blocks: Sequence[np.ndarray], language: str, task: str, options: TranscribeOptions
    ) -> list[Decoded]:
        """Decode consecutive speech-only blocks (``task``: transcribe or translate) without VAD;
        times are seconds from the start of the first block."""
        ...


@dataclass(frozen=True)
class _Run:
    start_s: float  # joined (speech-only) seconds
    end_s: float
    language: str
    probability: float
    first: int  # the run is blocks[first:last]
    last: int


def _firm(start_s: float, end_s: float, probability: float) -> bool:
    """Whether a block's detected language stands on its own: long enough and likely enough,
    or a short turn the model is sure of."""
    length = end_s - start_s
    return (length >= MIN_LANGUAGE_BLOCK_S and probability >= MIN_LANGUAGE_PROBABILITY) or (
        length >= MIN_TURN_S and probability >= SURE_TURN_PROBABILITY
    )


def _smooth(blocks: list[tuple[float, float, str, float]]) -> list[tuple[float, float, str, float]]:
    """Short or unsure blocks take the language of the block before them (or after, first)."""
    firm = [_firm(s, e, p) for s, e, _, p in blocks]
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
    for i, (s, e, lang, p) in enumerate(blocks):
        if runs and runs[-1].language == lang:
            last = runs[-1]
            runs[-1] = _Run(last.start_s, e, lang, max(last.probability, p), last.first, i + 1)
        else:
            runs.append(_Run(s, e, lang, p, i, i + 1))
    return runs


def _turns(
    block: tuple[float, float], spans_s: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """The parts of ``block`` that the VAD's spans (joined seconds) divide it into."""
    s, e = block
    return [(max(a, s), min(b, e)) for a, b in spans_s if min(b, e) - max(a, s) > 0]


def _by_turn(
    block: tuple[float, float, str, float],
    turns: list[tuple[float, float]],
    found: list[tuple[str, float] | None],
) -> list[tuple[float, float, str, float]]:
    """``block`` cut where a turn the model is sure is in another language (``found``: each
    turn's detected language, None where not checked) begins or ends; the other turns keep the
    block's language."""
    s, e, language, p = block
    parts: list[tuple[float, float, str, float]] = []
    for (a, b), lp in zip(turns, found, strict=True):
        lang, q = lp if lp is not None and lp[1] >= SURE_TURN_PROBABILITY else (language, p)
        if lang == language:
            q = p
        if parts and parts[-1][2] == lang:
            parts[-1] = (parts[-1][0], b, lang, max(parts[-1][3], q))
        else:
            parts.append((a, b, lang, q))
    parts[0] = (s, *parts[0][1:])
    parts[-1] = (parts[-1][0], e, *parts[-1][2:])
    return parts


def _shift(d: Decoded, offset_s: float) -> Decoded:
    return replace(
        d,
        start_s=d.start_s + offset_s,
        end_s=d.end_s + offset_s,
        words=[(s + offset_s, e + offset_s, w, p) for s, e, w, p in d.words],
    )


def _cut(speech: np.ndarray, spans_s: list[tuple[float, float]]) -> list[np.ndarray]:
    return [speech[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)] for s, e in spans_s]


def _reads_as_other_language(text: str, language: str) -> bool:
    counts = function_word_counts([text])
    own = counts.get(language, 0)
    return any(
        n >= OTHER_LANGUAGE_WORDS and n > own for lang, n in counts.items() if lang != language
    )


def _attach_translations(
    segments: list[Decoded], translated: list[Decoded], guards: GuardOptions
) -> list[str | None]:
    """Each translated piece goes to the source segment it overlaps most in time; a piece that
    loops is left out (no translation beats a wrong one)."""
    parts: list[list[str]] = [[] for _ in segments]
    for t in translated:
        text = t.text.strip()
        if not segments or not text or compression_ratio(text) > guards.max_compression_ratio:
            continue
        best = max(
            range(len(segments)),
            key=lambda i: (
                overlap_s(segments[i].start_s, segments[i].end_s, t.start_s, t.end_s),
                -abs(segments[i].start_s - t.start_s),
            ),
        )
        parts[best].append(text)
    return [" ".join(p) if p else None for p in parts]


class WhisperTranscriber:
    """A ``Transcriber`` over any ``Backend``: same windows, VAD, languages and guards."""

    def __init__(self, backend: Backend, guards: GuardOptions | None = None) -> None:
        self.backend = backend
        self.name = backend.name
        self.model_name = backend.model_name
        self.guards = guards or GuardOptions()

    def _languages(
        self,
        speech: np.ndarray,
        blocks_s: list[tuple[float, float]],
        options: TranscribeOptions,
        spans_s: list[tuple[float, float]] | None = None,
    ) -> list[tuple[float, float, str, float]]:
        """Blocks of speech with their language and how sure the model is of it.

        A call can switch language from one turn to the next (a German rep, an English
        customer), so where a block holds several turns (``spans_s``: the VAD's spans), each
        turn's language is checked too, and the block is cut where a turn is surely in another
        language. A block the model is unsure of may hold two languages, so its halves are
        checked on their own."""
        if options.language is not None:
            return [(s, e, options.language, 1.0) for s, e in blocks_s]
        if not self.backend.multilingual:
            return [(s, e, "en", 1.0) for s, e in blocks_s]
        if not options.language_check:
            ((lang, p),) = self.backend.detect_languages(_cut(speech, blocks_s[:1]))
            return [(s, e, lang, p) for s, e in blocks_s]
        turns = [_turns(block, spans_s or [block]) for block in blocks_s]
        # Turns first, so that the encoder outputs kept for decoding are the blocks'.
        turn_found = self._turn_languages(speech, turns)
        found = self.backend.detect_languages(_cut(speech, blocks_s))
        return [
            checked
            for (s, e), lp, parts, per_turn in zip(blocks_s, found, turns, turn_found, strict=True)
            for part in _by_turn((s, e, *lp), parts, per_turn)
            for checked in self._check_unsure(speech, part, LANGUAGE_SPLITS)
        ]

    def _turn_languages(
        self, speech: np.ndarray, turns: list[list[tuple[float, float]]]
    ) -> list[list[tuple[str, float] | None]]:
        """The language of each turn of at least ``MIN_TURN_S`` in the blocks that hold two or
        more such turns; None for the other turns."""
        wanted = [[b - a >= MIN_TURN_S for a, b in parts] for parts in turns]
        wanted = [w if sum(w) > 1 else [False] * len(w) for w in wanted]
        spans = [
            t
            for parts, w in zip(turns, wanted, strict=True)
            for t, x in zip(parts, w, strict=True)
            if x
        ]
        found = iter(self.backend.detect_languages(_cut(speech, spans)) if spans else [])
        return [[next(found) if x else None for x in w] for w in wanted]

    def _check_unsure(
        self, speech: np.ndarray, block: tuple[float, float, str, float], splits: int
    ) -> list[tuple[float, float, str, float]]:
        """``block``; or, when the model is unsure of its language, its halves, cut at a pause
        and checked on their own (and so on, ``splits`` times)."""
        s, e, _, p = block
        if splits == 0 or p >= SURE_LANGUAGE_PROBABILITY or e - s < 2 * MIN_LANGUAGE_BLOCK_S:
            return [block]
        middle = pause_near_middle(speech, s, e)
        halves = [(s, middle), (middle, e)]
        found = self.backend.detect_languages(_cut(speech, halves))
        return [
            part
            for (a, b), lp in zip(halves, found, strict=True)
            for part in self._check_unsure(speech, (a, b, *lp), splits - 1)
        ]

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
            spans_s = speech_map.joined_spans_s()
            found = self._languages(speech, speech_blocks(spans_s, BLOCK_S), options, spans_s)
            blocks = _cut(speech, [(s, e) for s, e, _, _ in found])
            for run in _runs(_smooth(found)):
                piece = blocks[run.first : run.last]
                decoded = self.backend.decode(piece, run.language, "transcribe", options)
                translations: list[str | None] = [None] * len(decoded)
                if options.translate and run.language != "en" and decoded:
                    translated = self.backend.decode(piece, run.language, "translate", options)
                    translations = _attach_translations(decoded, translated, self.guards)
                decoded, languages, translations = self._recheck(
                    speech, run, decoded, translations, options
                )
                kept = drop_loops([d.text for d in decoded], self.guards.max_repeats)
                for d, (language, probability), translation, keep in zip(
                    decoded, languages, translations, kept, strict=True
                ):
                    if not keep:
                        dropped.append("loop")
                        continue
                    segment = self._restore(d, run, speech_map, offset_s, len(segments))
                    segment = segment.model_copy(
                        update={"language": language, "translation": translation}
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
                    w = weights.setdefault(language, [0.0, 0.0])
                    w[0] += segment.end_s - segment.start_s
                    w[1] += (segment.end_s - segment.start_s) * probability
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

    def _recheck(
        self,
        speech: np.ndarray,
        run: _Run,
        decoded: list[Decoded],
        translations: list[str | None],
        options: TranscribeOptions,
    ) -> tuple[list[Decoded], list[tuple[str, float]], list[str | None]]:
        """``decoded`` (a run's segments) with the language of each; a segment whose words are
        unsure (``UNSURE_WORDS_PROBABILITY``) or read as another language
        (``OTHER_LANGUAGE_WORDS``), and whose audio the model is sure is in another language,
        is replaced by that audio decoded in that language."""
        languages = [(run.language, run.probability)] * len(decoded)
        if options.language is not None or not options.language_check:
            return decoded, languages, translations
        if not self.backend.multilingual:
            return decoded, languages, translations
        pieces: dict[int, tuple[float, float]] = {}
        for i, d in enumerate(decoded):
            if d.end_s - d.start_s < MIN_TURN_S or not d.words:
                continue
            sure = sum(w[3] for w in d.words) / len(d.words) >= UNSURE_WORDS_PROBABILITY
            if sure and not _reads_as_other_language(d.text, run.language):
                continue
            lo = max(d.start_s - RECHECK_PAD_S, decoded[i - 1].end_s if i else 0.0)
            hi = d.end_s + RECHECK_PAD_S
            if i + 1 < len(decoded):
                hi = min(hi, decoded[i + 1].start_s)
            pieces[i] = (lo, min(hi, run.end_s - run.start_s))
        if not pieces:
            return decoded, languages, translations
        audio = _cut(speech, [(run.start_s + a, run.start_s + b) for a, b in pieces.values()])
        found = dict(zip(pieces, self.backend.detect_languages(audio), strict=True))
        out: tuple[list[Decoded], list[tuple[str, float]], list[str | None]] = ([], [], [])
        for i, d in enumerate(decoded):
            lang, p = found.get(i, (run.language, 0.0))
            if lang == run.language or p < SURE_TURN_PROBABILITY:
                out[0].append(d)
                out[1].append(languages[i])
                out[2].append(translations[i])
                continue
            piece = audio[list(pieces).index(i)]
            again = [
                _shift(x, pieces[i][0])
                for x in self.backend.decode([piece], lang, "transcribe", options)
            ]
            translated: list[str | None] = [None] * len(again)
            if options.translate and lang != "en" and again:
                translated = _attach_translations(
                    again,
                    [
                        _shift(x, pieces[i][0])
                        for x in self.backend.decode([piece], lang, "translate", options)
                    ],
                    self.guards,
                )
            out[0].extend(again)
            out[1].extend([(lang, p)] * len(again))
            out[2].extend(translated)
        return out

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
