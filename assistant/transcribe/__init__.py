"""Speech to timestamped text, behind one small interface.

``Transcriber`` is the role. Two engines: ``faster.py`` (faster-whisper on CTranslate2, the
default) and ``openai.py`` (openai-whisper on PyTorch, the reference implementation). Both are
thin ``Backend`` adapters; ``runner.py`` does what they share: windows, VAD, a language per block
of speech, translation, and hallucination guards. ``get_transcriber`` picks an engine by name and
loads its model once per process.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from assistant.errors import OptionError
from assistant.transcribe.types import (
    ENGINES,
    LANGUAGES,
    Progress,
    TranscribeOptions,
    Transcriber,
    Transcript,
    check_language,
)

__all__ = [
    "ENGINES",
    "LANGUAGES",
    "Progress",
    "TranscribeOptions",
    "Transcriber",
    "Transcript",
    "check_language",
    "get_transcriber",
]


def get_transcriber(
    engine: str, model: str, compute_type: str, cpu_threads: int, cache_dir: Path
) -> Transcriber:
    """The engine ``engine`` with ``model`` loaded (once per process for the same arguments).

    ``model`` is a bundled name (``base``, ``tiny.en``), a local CTranslate2 model folder, for
    openai-whisper also a ``.pt`` checkpoint, or a model name to fetch where there is a network.
    openai-whisper runs the bundled CTranslate2 weights after a one-time conversion (cached under
    ``cache_dir``); on CPU it computes in float32 whatever ``compute_type`` says.
    """
    if engine not in ENGINES:
        raise OptionError(f"Unknown engine {engine!r}; expected one of: {', '.join(ENGINES)}")
    return _load(engine, model, compute_type, cpu_threads, cache_dir)


@lru_cache(maxsize=4)
def _load(
    engine: str, model: str, compute_type: str, cpu_threads: int, cache_dir: Path
) -> Transcriber:
    from assistant.transcribe.runner import Backend, WhisperTranscriber

    backend: Backend
    if engine == "openai-whisper":
        from assistant.transcribe.openai import OpenAIWhisperBackend

        backend = OpenAIWhisperBackend(model, compute_type, cpu_threads, cache_dir)
    else:
        from assistant.transcribe.faster import FasterWhisperBackend

        backend = FasterWhisperBackend(model, compute_type, cpu_threads, cache_dir)
    return WhisperTranscriber(backend)
