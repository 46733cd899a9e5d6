"""Cut long audio into windows at its quietest moments, so engines work in bounded memory."""

from __future__ import annotations

import numpy as np

from assistant.media import SAMPLE_RATE

_FRAME = SAMPLE_RATE // 10  # 100 ms energy frames


def split_points(audio: np.ndarray, window_s: float, search_s: float = 10.0) -> list[int]:
    """Sample offsets that cut ``audio`` into windows of about ``window_s``.

    Each cut lies in the quietest 100 ms frame within ``search_s`` before the nominal boundary,
    so a cut falls in a pause rather than in the middle of a word. Returns the starts of the
    windows, beginning with 0.
    """
    window = int(window_s * SAMPLE_RATE)
    search = int(search_s * SAMPLE_RATE)
    starts = [0]
    while len(audio) - starts[-1] > window:
        nominal = starts[-1] + window
        lo = max(starts[-1] + window // 2, nominal - search)
        region = audio[lo:nominal]
        n_frames = len(region) // _FRAME
        if n_frames == 0:
            starts.append(nominal)
            continue
        energy = np.square(region[: n_frames * _FRAME].reshape(n_frames, _FRAME)).mean(axis=1)
        starts.append(lo + int(np.argmin(energy)) * _FRAME + _FRAME // 2)
    return starts


def windows(audio: np.ndarray, window_s: float) -> list[tuple[float, np.ndarray]]:
    """``(offset_s, samples)`` views of ``audio`` cut at ``split_points``."""
    starts = split_points(audio, window_s)
    ends = [*starts[1:], len(audio)]
    return [(s / SAMPLE_RATE, audio[s:e]) for s, e in zip(starts, ends, strict=True)]
