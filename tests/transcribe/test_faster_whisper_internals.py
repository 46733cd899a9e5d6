"""The faster-whisper internals the product drives (``assistant/transcribe/faster.py``, the VAD
in ``transcribe/vad.py`` and ``diarize/voices.py``), checked by name and signature.

They are not faster-whisper's public API: an upgrade may move them. pyproject pins the range
these were tested with; this file fails loudly, naming what moved, before a transcription
test fails somewhere deep inside a call.
"""

from __future__ import annotations

import inspect
from dataclasses import fields

import pytest


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_word_timestamps_are_added_with_the_positional_arguments_we_pass() -> None:
    from faster_whisper import WhisperModel

    assert parameters(WhisperModel.add_word_timestamps) == [
        "self",
        "segments",
        "tokenizer",
        "encoder_output",
        "num_frames",
        "prepend_punctuations",
        "append_punctuations",
        "last_speech_timestamp",
    ]
    assert {"tokenizer", "previous_tokens", "hotwords"} <= set(parameters(WhisperModel.get_prompt))
    # faster.py catches its aligner's IndexError on an empty alignment, relying on it failing
    # before it changes the segments.
    assert "find_alignment" in WhisperModel.add_word_timestamps.__code__.co_names


def test_tokenizer_and_decoding_helpers_are_where_we_import_them() -> None:
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import _LANGUAGE_CODES, Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    assert {"en", "de"} <= set(_LANGUAGE_CODES)
    assert parameters(Tokenizer.__init__)[:5] == [
        "self",
        "tokenizer",
        "multilingual",
        "task",
        "language",
    ]
    assert parameters(get_suppressed_tokens) == ["tokenizer", "suppress_tokens"]
    assert callable(pad_or_trim)
    assert hasattr(Tokenizer, "split_to_word_tokens")


def test_vad_options_and_function_we_call() -> None:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    names = {f.name for f in fields(VadOptions)}
    assert {"min_silence_duration_ms", "speech_pad_ms", "min_speech_duration_ms"} <= names
    assert parameters(get_speech_timestamps)[:2] == ["audio", "vad_options"]


@pytest.mark.parametrize("package", ["faster-whisper", "ctranslate2"])
def test_installed_version_is_inside_the_pinned_range(package: str) -> None:
    import tomllib
    from importlib.metadata import version
    from pathlib import Path

    from packaging.requirements import Requirement

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    pins = [Requirement(r) for r in project["project"]["dependencies"]]
    pin = next(r for r in pins if r.name == package)
    assert version(package) in pin.specifier, f"{package} {version(package)} is outside {pin}"
