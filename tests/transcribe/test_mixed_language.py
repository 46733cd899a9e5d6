"""Calls that switch language: a short turn in another language keeps its own language.

A German rep and an English customer: a 3-4 s English answer between German turns must come
back as English words, not as nothing or as German. Real voices from tests/data, real model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.media import SAMPLE_RATE, load_audio
from assistant.transcribe import TranscribeOptions, Transcript, get_transcriber
from assistant.transcribe.guards import normalize
from assistant.transcribe.vad import speech_spans

GAP_S = 0.5
# English turns of 3-4 s (LibriSpeech), with their reference text.
ENGLISH_TURNS = {
    "another_door.wav": "and he walked immediately out of the apartment by another door",
    "testing_routine.wav": "this isn't part of your testing routine is it",
}


def _at_call_level(audio: np.ndarray, dbfs: float = -25.0) -> np.ndarray:
    """The clips come from corpora recorded at different levels; one call has its parties at
    similar levels."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return (audio * (10 ** (dbfs / 20) / rms)).astype(np.float32)


def _trimmed(audio: np.ndarray, keep_s: float = 0.2) -> np.ndarray:
    """``audio`` without the silence before and after its speech (FLEURS clips hold seconds of
    it), so the pauses between turns are as short as in a brisk call."""
    spans = speech_spans(audio)
    keep = int(keep_s * SAMPLE_RATE)
    return audio[max(0, spans[0][0] - keep) : spans[-1][1] + keep]


def _call(data: Path, names: list[str], trim: bool) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The clips one after another with short pauses, and where each one lies (seconds)."""
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    places: list[tuple[float, float]] = []
    start = 0
    for name in names:
        clip = _at_call_level(load_audio(data / name).mono)
        if trim:
            clip = _trimmed(clip)
        places.append((start / SAMPLE_RATE, (start + len(clip)) / SAMPLE_RATE))
        parts += [clip, gap]
        start += len(clip) + len(gap)
    return np.concatenate(parts[:-1]), places


def _within(t: Transcript, place: tuple[float, float]) -> list:
    """Segments that lie mostly inside ``place``."""
    lo, hi = place
    return [
        s
        for s in t.segments
        if min(s.end_s, hi) - max(s.start_s, lo) > 0.5 * max(s.end_s - s.start_s, 1e-3)
    ]


@pytest.mark.parametrize("pauses", ["long", "short"])
@pytest.mark.parametrize("english", list(ENGLISH_TURNS))
def test_short_english_turn_between_german_turns_stays_english(
    data: Path, assistant_data_dir: Path, english: str, pauses: str
) -> None:
    """Long pauses: the clips keep their own silences (2-4 s), so the VAD cuts between the
    turns. Short pauses: about a second between turns, so all three share one stretch of
    speech."""
    names = ["fleurs-de-000.ogg", english, "fleurs-de-001.ogg"]
    audio, places = _call(data, names, trim=pauses == "short")
    tr = get_transcriber("faster-whisper", "base", "int8", 0, assistant_data_dir / "cache")
    t = tr.transcribe(audio, TranscribeOptions(model="base"))

    turn = _within(t, places[1])
    assert turn, f"nothing transcribed for the English turn at {places[1]}: {t.segments}"
    assert all(s.language == "en" for s in turn), [(s.language, s.text) for s in turn]
    heard = set(normalize(" ".join(s.text for s in turn)).split())
    reference = normalize(ENGLISH_TURNS[english]).split()
    found = sum(w in heard for w in reference) / len(reference)
    assert found >= 0.6, (found, [s.text for s in turn])
    # The German turns around it stay German.
    for place in (places[0], places[2]):
        german = _within(t, place)
        assert german and all(s.language == "de" for s in german), german
    assert set(t.languages) == {"de", "en"}
