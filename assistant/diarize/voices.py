"""Where speech is (Silero VAD) and whose voice it is (Resemblyzer GE2E embeddings)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from assistant.diarize.types import HOP_S, WINDOW_S
from assistant.errors import ModelError
from assistant.media import SAMPLE_RATE
from assistant.transcribe.vad import VadOptions, speech_spans

if TYPE_CHECKING:
    from resemblyzer import VoiceEncoder


# Speaker turns want every pause of 0.3 s and little padding; transcription wants the opposite.
TURN_VAD = VadOptions(
    min_speech_duration_ms=200,
    min_silence_duration_ms=300,
    speech_pad_ms=60,
    max_speech_s=float("inf"),
)


def speech_regions(audio: np.ndarray) -> list[tuple[float, float]]:
    """Speech as (start_s, end_s): the transcription stage's VAD (Silero) with ``TURN_VAD``."""
    spans = speech_spans(np.ascontiguousarray(audio, dtype=np.float32), TURN_VAD)
    return [(start / SAMPLE_RATE, end / SAMPLE_RATE) for start, end in spans]


@lru_cache(maxsize=1)
def get_encoder() -> VoiceEncoder:
    """Resemblyzer's GE2E voice encoder from the weights inside its package, on CPU, once."""
    import warnings

    try:
        with warnings.catch_warnings():
            # webrtcvad, imported by resemblyzer, imports the deprecated pkg_resources.
            warnings.simplefilter("ignore")
            from resemblyzer import VoiceEncoder

        encoder = VoiceEncoder("cpu", verbose=False)
    except Exception as exc:  # ImportError, a missing or unreadable pretrained.pt, torch errors
        raise ModelError(
            f"cannot load the speaker encoder (resemblyzer): {exc}. Install the ml extra: "
            "pip install 'sales-call-assistant[ml]'"
        ) from exc
    encoder.eval()
    return encoder


# The encoder's features: 40 mel bands (Slaney scale and norm) of the power spectrum, 25 ms
# Hann windows every 10 ms, as resemblyzer computes them with librosa. Done here in numpy:
# librosa's first call spends seconds compiling, which a one-call CLI run would pay each time.
_N_FFT = 400
_HOP = 160
_N_MELS = 40


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log = hz >= 1000.0
    return np.where(log, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27), mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * (200.0 / 3)
    log = mel >= 15.0
    return np.where(log, 1000.0 * np.exp((np.log(6.4) / 27) * (mel - 15.0)), hz)


@lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    fft_hz = np.linspace(0, SAMPLE_RATE / 2, 1 + _N_FFT // 2)
    edges = _hz_to_mel(np.array([0.0, SAMPLE_RATE / 2]))
    mel_hz = _mel_to_hz(np.linspace(edges[0], edges[1], _N_MELS + 2))
    spacing = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / spacing[:-1, None]
    upper = ramps[2:] / spacing[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2 : _N_MELS + 2] - mel_hz[:_N_MELS]))[:, None]
    return weights.T.astype(np.float32)  # (fft bins, mels)


def mel_spectrogram(wav: np.ndarray, chunk_frames: int = 8192) -> np.ndarray:
    """(frames, 40) float32 mel power spectrogram, frame i centred at i * 10 ms.

    Works through the audio in chunks, so an hour-long call needs no padded copy of itself.
    """
    wav = np.asarray(wav, dtype=np.float32)
    half = _N_FFT // 2
    n_frames = 1 + len(wav) // _HOP
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_N_FFT) / _N_FFT)).astype(np.float32)
    filters = _mel_filters()
    out = np.empty((n_frames, _N_MELS), np.float32)
    for first in range(0, n_frames, chunk_frames):
        last = min(n_frames, first + chunk_frames)
        lo, hi = first * _HOP - half, (last - 1) * _HOP + half
        piece = np.pad(wav[max(0, lo) : hi], (max(0, -lo), max(0, hi - len(wav))))
        frames = np.lib.stride_tricks.sliding_window_view(piece, _N_FFT)[::_HOP]
        spectrum = np.fft.rfft(frames[: last - first] * window, axis=1)
        out[first:last] = (np.abs(spectrum) ** 2) @ filters
    return out


def _mel_frames(audio: np.ndarray, regions: list[tuple[float, float]]) -> np.ndarray:
    """The encoder's input features, loudness set from the speech only."""
    energy = 0.0
    count = 0
    for start, end in regions or [(0.0, len(audio) / SAMPLE_RATE)]:
        part = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)].astype(np.float64)
        energy += float(np.sum(part**2))
        count += len(part)
    rms = float(np.sqrt(energy / count)) if count else 0.0
    # The encoder was trained on audio normalised to -30 dBFS; power scales with gain squared.
    gain = 10 ** (-30 / 20) / rms if rms > 1e-6 else 1.0
    return mel_spectrogram(audio) * np.float32(gain**2)


def _window_starts(regions: list[tuple[float, float]], hop_s: float, total_s: float) -> list[float]:
    starts: list[float] = []
    for start, end in regions:
        if end - start <= WINDOW_S:
            # A short utterance: one window centred on it, borrowing context either side.
            middle = (start + end) / 2
            starts.append(min(max(0.0, middle - WINDOW_S / 2), max(0.0, total_s - WINDOW_S)))
            continue
        t = start
        while t + WINDOW_S <= end + 1e-9:
            starts.append(t)
            t += hop_s
        if starts[-1] + WINDOW_S < end - hop_s / 2:
            starts.append(end - WINDOW_S)
    return starts


_ENCODER_LOCK = threading.Lock()


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """The encoder's LSTM steps are too small to share between threads; on a busy machine the
    waiting threads made it ten times slower than one thread. Set for the call, then restored;
    the lock keeps worker threads from restoring each other's setting."""
    import torch

    with _ENCODER_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def _embed_windows(mel: np.ndarray, starts: list[float], batch: int = 64) -> np.ndarray:
    import torch

    encoder = get_encoder()
    frames = round(WINDOW_S * 100)
    out = []
    for i in range(0, len(starts), batch):
        chunk = []
        for start in starts[i : i + batch]:
            first = round(start * 100)
            window = mel[first : first + frames]
            if len(window) < frames:
                window = np.pad(window, ((0, frames - len(window)), (0, 0)))
            chunk.append(window)
        with torch.inference_mode(), _one_torch_thread():
            out.append(encoder(torch.from_numpy(np.stack(chunk))).numpy())
    if not out:
        return np.zeros((0, 256), np.float32)
    return np.concatenate(out).astype(np.float32)


def embed_windows(
    audio: np.ndarray, regions: list[tuple[float, float]], hop_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Window start times (n,) and L2-normed embeddings (n, 256) over the speech ``regions``."""
    total_s = len(audio) / SAMPLE_RATE
    starts = sorted(_window_starts(regions, hop_s, total_s))
    if not starts:
        return np.zeros(0), np.zeros((0, 256), np.float32)
    get_encoder()  # first: it imports resemblyzer quietly, and fails clearly without it
    mel = _mel_frames(audio, regions)
    return np.asarray(starts), _embed_windows(mel, starts)


# Pitch: 40 ms frames every 10 ms, voiced where the normalised autocorrelation peaks above
# _VOICED at a lag of 60-400 Hz; a window's pitch is the median of its voiced frames.
_PITCH_FRAME = 640
_PITCH_LAGS = (SAMPLE_RATE // 400, SAMPLE_RATE // 60)
_VOICED = 0.5
_MIN_VOICED_FRAMES = 20
_NEAR_BEST = 0.85
_PEAK_SEARCH = 24  # lags searched for the top of the first peak


def pitch_track(audio: np.ndarray, chunk_frames: int = 4096) -> np.ndarray:
    """Fundamental frequency in semitones (12 log2 Hz) every 10 ms, NaN where unvoiced."""
    audio = np.asarray(audio, dtype=np.float32)
    n = max(0, 1 + (len(audio) - _PITCH_FRAME) // _HOP)
    out = np.full(n, np.nan, np.float32)
    lo, hi = _PITCH_LAGS
    size = 2 * _PITCH_FRAME
    window = np.hanning(_PITCH_FRAME).astype(np.float32)
    # The autocorrelation of the window itself, to undo its taper at each lag.
    taper = np.fft.irfft(np.abs(np.fft.rfft(window, size)) ** 2)[: hi + 1]
    taper = taper / taper[0]
    for first in range(0, n, chunk_frames):
        last = min(n, first + chunk_frames)
        piece = audio[first * _HOP : (last - 1) * _HOP + _PITCH_FRAME]
        frames = np.lib.stride_tricks.sliding_window_view(piece, _PITCH_FRAME)[::_HOP]
        frames = (frames - frames.mean(axis=1, keepdims=True)) * window
        power = np.abs(np.fft.rfft(frames, size, axis=1)) ** 2
        correlation = np.fft.irfft(power, axis=1)[:, : hi + 1] / taper
        energy = correlation[:, 0]
        normalised = correlation[:, lo:] / (energy[:, None] + 1e-12)
        # A periodic sound correlates about as well at two and three periods as at one: take
        # the first peak that comes close to the best, not the best.
        rows = np.arange(len(normalised))
        near = np.argmax(normalised >= _NEAR_BEST * normalised.max(axis=1, keepdims=True), axis=1)
        ahead = np.minimum(near[:, None] + np.arange(_PEAK_SEARCH), normalised.shape[1] - 1)
        lag = ahead[rows, np.argmax(normalised[rows[:, None], ahead], axis=1)]
        voiced = (normalised[rows, lag] > _VOICED) & (energy > 1e-7)
        semitones = 12 * np.log2(SAMPLE_RATE / (lag + lo))
        out[first:last] = np.where(voiced, semitones, np.nan)
    return out


def window_pitch(audio: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The median pitch (semitones) of each encoder window starting at ``starts`` (seconds),
    NaN where too little of it is voiced."""
    track = pitch_track(audio)
    frames = round(WINDOW_S * 100)
    out = np.full(len(starts), np.nan)
    for i, start in enumerate(starts):
        first = round(float(start) * 100)
        voiced = track[first : first + frames]
        voiced = voiced[~np.isnan(voiced)]
        if len(voiced) >= _MIN_VOICED_FRAMES:
            out[i] = float(np.median(voiced))
    return out


def normed(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def embed_speech(
    audio: np.ndarray, regions: list[tuple[float, float]] | None = None
) -> np.ndarray | None:
    """One voice embedding for all the speech in ``audio`` (None when there is none)."""
    regions = speech_regions(audio) if regions is None else regions
    _, embeddings = embed_windows(audio, regions, HOP_S)
    if len(embeddings) == 0:
        return None
    return normed(embeddings.mean(axis=0))
