"""Degrade clean speech the way real calls reach us, for benchmarks.

Each condition takes and returns 16 kHz mono float32 of (almost exactly) the same length, aligned
in time with the input (codec delay is measured and removed), so reference time stamps stay valid:

  clean      the audio as it is
  mulaw8k    a telephone line: resampled to 8 kHz, G.711 mu-law (pcm_mulaw), back to 16 kHz
  opus16k    a Zoom / Teams / Meet call: Opus at 16 kbit/s (VoIP mode, 16 kHz)
  mp3_32k    a low-rate recording export: MP3 at 32 kbit/s
  noise20db  a noisy room or line: pink noise 20 dB below the active speech level

The codecs really encode and decode, in memory, through PyAV (no ffmpeg binary needed).

    from degrade import CONDITIONS, degrade
    noisy = degrade(audio, "noise20db", seed=1)
"""

from __future__ import annotations

import io

import numpy as np

SAMPLE_RATE = 16_000
CONDITIONS = ("clean", "mulaw8k", "opus16k", "mp3_32k", "noise20db")
# condition -> (container format, codec, codec sample rate, bit rate, codec options)
_CODECS: dict[str, tuple[str, str, int, int, dict[str, str]]] = {
    "mulaw8k": ("wav", "pcm_mulaw", 8_000, 0, {}),
    "opus16k": ("ogg", "libopus", 16_000, 16_000, {"application": "voip"}),
    "mp3_32k": ("mp3", "libmp3lame", 16_000, 32_000, {}),
}
NOISE_SNR_DB = 20.0
MAX_DELAY_S = 0.1


def degrade(audio: np.ndarray, condition: str, seed: int = 0) -> np.ndarray:
    """``audio`` (16 kHz mono float32) as it sounds after ``condition`` (one of ``CONDITIONS``).

    ``seed`` picks the noise of ``noise20db``; the codecs are deterministic.
    """
    if condition not in CONDITIONS:
        raise ValueError(
            f"Unknown condition {condition!r}; expected one of: {', '.join(CONDITIONS)}"
        )
    audio = np.asarray(audio, dtype=np.float32)
    if condition == "clean" or len(audio) == 0:
        return audio.copy()
    if condition == "noise20db":
        return _add_noise(audio, NOISE_SNR_DB, seed)
    coded = _codec_round_trip(audio, *_CODECS[condition])
    return _align(audio, coded)


def _codec_round_trip(
    audio: np.ndarray, fmt: str, codec: str, rate: int, bit_rate: int, options: dict[str, str]
) -> np.ndarray:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono", options=options)
        if bit_rate:
            stream.bit_rate = bit_rate
        encoder_format = stream.codec_context.codec.audio_formats[0].name
        resampler = av.AudioResampler(format=encoder_format, layout="mono", rate=rate)
        frame = av.AudioFrame.from_ndarray(
            np.clip(audio, -1.0, 1.0)[np.newaxis, :], format="flt", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(resampled))
        out.mux(stream.encode(None))
    buffer.seek(0)
    chunks: list[np.ndarray] = []
    with av.open(buffer, "r") as inp:
        back = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for decoded in inp.decode(audio=0):
            decoded.pts = None
            chunks += [f.to_ndarray().reshape(-1) for f in back.resample(decoded)]
        chunks += [f.to_ndarray().reshape(-1) for f in back.resample(None)]
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def _align(reference: np.ndarray, coded: np.ndarray) -> np.ndarray:
    """``coded`` shifted by the codec's delay (found by cross-correlation, at most
    ``MAX_DELAY_S``) and trimmed or padded to the length of ``reference``."""
    lag = _delay(reference, coded)
    coded = coded[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag, np.float32), coded])
    if len(coded) < len(reference):
        coded = np.concatenate([coded, np.zeros(len(reference) - len(coded), np.float32)])
    return coded[: len(reference)].astype(np.float32)


def _delay(reference: np.ndarray, coded: np.ndarray) -> int:
    """Samples by which ``coded`` lags ``reference`` (negative: leads)."""
    n = min(len(reference), len(coded), 30 * SAMPLE_RATE)
    max_lag = int(MAX_DELAY_S * SAMPLE_RATE)
    if n <= 2 * max_lag:
        return 0
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(coded[:n], size) * np.conj(np.fft.rfft(reference[:n], size))
    correlation = np.fft.irfft(spectrum, size)
    lags = np.concatenate([correlation[: max_lag + 1], correlation[-max_lag:]])
    best = int(np.argmax(lags))
    return best if best <= max_lag else best - len(lags)


def active_level(audio: np.ndarray, floor_db: float = 30.0) -> float:
    """RMS of the speech in ``audio``: 20 ms frames within ``floor_db`` of the loudest frames,
    so pauses do not pull the level down."""
    frame = SAMPLE_RATE // 50
    n = len(audio) // frame
    if n == 0:
        return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0
    power = np.square(audio[: n * frame].reshape(n, frame), dtype=np.float64).mean(axis=1)
    loud = float(np.quantile(power, 0.95))
    active = power[power >= loud * 10 ** (-floor_db / 10)]
    return float(np.sqrt(active.mean())) if len(active) else 0.0


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of 1/f noise with unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(f), n)
    return noise / (np.sqrt(np.mean(np.square(noise))) or 1.0)


def _add_noise(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    level = active_level(audio)
    noise = pink_noise(len(audio), np.random.default_rng(seed)) * level * 10 ** (-snr_db / 20)
    return (audio + noise).astype(np.float32)
