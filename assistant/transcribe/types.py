"""The transcription stage's options, result and role (``Transcriber``), shared by the engines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from assistant.errors import OptionError
from assistant.report import Segment

ENGINES = ("faster-whisper", "openai-whisper")
LANGUAGES = ("auto", "en", "de")

Progress = Callable[[float], None]


@dataclass(frozen=True)
class TranscribeOptions:
    """How to transcribe; recorded with the result as provenance."""

    model: str = "base"
    language: str | None = None  # None: detect
    compute_type: str = "int8"
    # 0: greedy for English, beam 5 for other languages. On the FLEURS clips beam search cut the
    # German word error rate of `base` from 17.5% to 13.2% and did not help English, where greedy
    # decoding keeps long calls within the real-time budget.
    beam_size: int = 0
    vad: bool = True
    word_timestamps: bool = True
    vocabulary: tuple[str, ...] = ()
    cpu_threads: int = 0
    # Add an English translation (Whisper's translate task) to segments in other languages.
    translate: bool = False
    # With language detection on, check the language of every block of speech (~24 s) and of
    # the turns in it, so a call that switches languages, even for a short answer, keeps each
    # part's language.
    language_check: bool = True
    # Long recordings are transcribed window by window (cut in pauses) to bound memory: the
    # engines compute the spectrogram of all the audio they are given at once (~1 MB/s).
    window_s: float = 180.0

    def beam_for(self, language: str) -> int:
        """The beam size to decode ``language`` with."""
        if self.beam_size:
            return self.beam_size
        return 1 if language == "en" else 5

    def as_dict(self) -> dict[str, object]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Transcript:
    language: str | None
    language_probability: float
    segments: list[Segment]
    engine: str
    model: str
    compute_type: str
    languages: dict[str, float] = field(default_factory=dict)  # seconds of speech per language
    dropped: dict[str, int] = field(default_factory=dict)  # segments dropped by the guards, by why


class Transcriber(Protocol):
    name: str
    model_name: str

    def transcribe(
        self, audio: np.ndarray, options: TranscribeOptions, progress: Progress | None = None
    ) -> Transcript:
        """Transcribe mono 16 kHz float32 ``audio``; times are seconds from its start."""
        ...


def check_language(language: str | None) -> str | None:
    """Normalise a ``--language`` value: ``auto``/None means detect."""
    if language in (None, "", "auto"):
        return None
    from faster_whisper.tokenizer import _LANGUAGE_CODES as whisper_languages

    code = str(language).lower()
    if code not in whisper_languages:
        raise OptionError(
            f"Unknown language {language!r}; expected auto or a Whisper language code "
            f"such as {', '.join(LANGUAGES[1:])}"
        )
    return code
