"""The default engine: faster-whisper (CTranslate2), int8 on CPU, with Silero VAD."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from assistant.errors import ModelError, OptionError
from assistant.report import Segment, Word
from assistant.transcribe import Progress, TranscribeOptions, Transcript
from assistant.transcribe.models import is_english_only, resolve_ct2_model
from assistant.transcribe.windows import windows


class FasterWhisperTranscriber:
    name = "faster-whisper"

    def __init__(self, model: str, compute_type: str, cpu_threads: int, cache_dir: Path) -> None:
        from faster_whisper import WhisperModel

        self.model_name = model
        self.compute_type = compute_type
        location = resolve_ct2_model(model, cache_dir)
        try:
            self._model = WhisperModel(
                location,
                device="cpu",
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                download_root=str(cache_dir / "whisper"),
            )
        except Exception as exc:  # the library raises anything from OSError to HF errors
            raise ModelError(
                f"cannot load Whisper model {model!r}: {exc}. Use a bundled model "
                "(base, tiny.en), a local CTranslate2 model directory, or a model name with "
                "network access"
            ) from exc
        self._english_only = is_english_only(model) or not self._model.model.is_multilingual

    def transcribe(
        self, audio: np.ndarray, options: TranscribeOptions, progress: Progress | None = None
    ) -> Transcript:
        if self._english_only and options.language not in (None, "en"):
            raise OptionError(
                f"model {self.model_name!r} is English-only; use a multilingual model such as "
                f"'base' for language {options.language!r}"
            )
        language = "en" if self._english_only else options.language
        total_s = max(len(audio) / 16_000, 1e-9)
        segments: list[Segment] = []
        speech_s: Counter[str] = Counter()
        probabilities: dict[str, float] = {}
        for offset_s, chunk in windows(audio, options.window_s):
            pieces, info = self._model.transcribe(
                chunk,
                language=language,
                beam_size=options.beam_size,
                vad_filter=options.vad,
                word_timestamps=options.word_timestamps,
                condition_on_previous_text=False,
                hotwords=", ".join(options.vocabulary) or None,
            )
            for piece in pieces:
                text = piece.text.strip()
                if not text:
                    continue
                segments.append(
                    Segment(
                        id=len(segments),
                        start_s=round(offset_s + piece.start, 3),
                        end_s=round(offset_s + piece.end, 3),
                        text=text,
                        words=[
                            Word(
                                start_s=round(offset_s + w.start, 3),
                                end_s=round(offset_s + w.end, 3),
                                text=w.word.strip(),
                                probability=round(w.probability, 4),
                            )
                            for w in piece.words or []
                        ],
                        language=info.language,
                    )
                )
                speech_s[info.language] += piece.end - piece.start
                if progress:
                    progress(min(1.0, (offset_s + piece.end) / total_s))
            probabilities.setdefault(info.language, info.language_probability)
        detected = speech_s.most_common(1)[0][0] if speech_s else language
        return Transcript(
            language=detected,
            language_probability=probabilities.get(detected or "", 0.0),
            segments=segments,
            engine=self.name,
            model=self.model_name,
            compute_type=self.compute_type,
            languages={k: round(v, 2) for k, v in speech_s.items()},
        )
