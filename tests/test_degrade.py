"""scripts/degrade.py: every condition keeps the length and the timing of the speech."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.media import SAMPLE_RATE, load_audio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from degrade import CONDITIONS, active_level, degrade


@pytest.fixture(scope="module")
def speech(data: Path) -> np.ndarray:
    return load_audio(data / "fleurs-en-000.ogg").mono


def _lag_ms(a: np.ndarray, b: np.ndarray, max_ms: int = 100) -> float:
    """Where ``b`` correlates best with ``a``, in ms (positive: ``b`` is late)."""
    m = max_ms * SAMPLE_RATE // 1000
    core = a[m:-m]
    scores = [float(np.dot(core, b[m + k : len(b) - m + k])) for k in range(-m, m + 1)]
    return (int(np.argmax(scores)) - m) * 1000 / SAMPLE_RATE


@pytest.mark.parametrize("condition", CONDITIONS)
def test_condition_keeps_length_and_timing(speech: np.ndarray, condition: str) -> None:
    out = degrade(speech, condition)
    assert out.dtype == np.float32 and out.ndim == 1
    assert len(out) == len(speech)
    assert abs(_lag_ms(speech, out)) <= 30
    if condition != "clean":
        assert not np.allclose(out, speech)


def test_noise_sits_20_db_below_the_speech(speech: np.ndarray) -> None:
    noise = degrade(speech, "noise20db", seed=1) - speech
    snr = 20 * np.log10(active_level(speech) / np.sqrt(np.mean(np.square(noise))))
    assert 19.5 < snr < 20.5
    assert not np.allclose(degrade(speech, "noise20db", seed=2) - speech, noise)


def test_unknown_condition_names_the_valid_ones(speech: np.ndarray) -> None:
    with pytest.raises(ValueError, match="clean, mulaw8k, opus16k, mp3_32k, noise20db"):
        degrade(speech, "gsm")
