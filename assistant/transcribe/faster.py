"""The default engine: faster-whisper (CTranslate2), int8 on CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.errors import ModelError
from assistant.transcribe import TranscribeOptions
from assistant.transcribe.guards import Decoded
from assistant.transcribe.models import is_english_only, resolve_ct2_model


class FasterWhisperBackend:
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
        self.multilingual = bool(self._model.model.is_multilingual) and not is_english_only(model)

    def detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        language, probability, _ = self._model.detect_language(audio=audio)
        return language, float(probability)

    def decode(
        self, audio: np.ndarray, language: str, task: str, options: TranscribeOptions
    ) -> list[Decoded]:
        words = options.word_timestamps and task == "transcribe"
        pieces, _ = self._model.transcribe(
            audio,
            language=language,
            task=task,
            beam_size=options.beam_for(language),
            vad_filter=False,  # the runner has already cut the audio down to speech
            word_timestamps=words,
            condition_on_previous_text=False,
            # faster-whisper puts hotwords into the prompt of every 30 s window it decodes.
            hotwords=", ".join(options.vocabulary) or None,
        )
        return [
            Decoded(
                start_s=piece.start,
                end_s=piece.end,
                text=piece.text,
                words=[(w.start, w.end, w.word, w.probability) for w in piece.words or []],
                avg_logprob=piece.avg_logprob,
                no_speech_prob=piece.no_speech_prob,
            )
            for piece in pieces
        ]
