"""Recordings in, 16 kHz float32 audio out: probe first, then decode in bounded memory.

PyAV decodes every container FFmpeg knows (wav, mp3, m4a/aac, ogg/opus, flac, mp4, mov, mkv, webm)
in-process. Only the audio stream is decoded, frame by frame, and resampled on the way, so a
two-hour video never exists in memory as video: 16 kHz float32 is 3.7 MB per minute per channel.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from assistant.errors import (
    EmptyAudioError,
    NoAudioStreamError,
    NotMediaError,
    TooLongError,
    TruncatedMediaError,
)

SAMPLE_RATE = 16_000
MEDIA_EXTENSIONS = frozenset(
    {".wav", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".webm", ".mp4", ".mov"}
    | {".mkv", ".m4v", ".wma", ".wmv", ".avi", ".3gp", ".amr"}
)


@dataclass(frozen=True)
class MediaOptions:
    max_duration_s: float = 4 * 3600
    min_duration_s: float = 0.5
    # Decoded audio shorter than this fraction of the declared duration means a truncated file.
    min_decoded_fraction: float = 0.75
    max_channels: int = 2


# Decoding this much at the start and at the declared end shows the audio is really there.
CHECK_WINDOW_S = 2.0


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    format: str
    duration_s: float | None
    channels: int
    sample_rate: int
    codec: str
    has_video: bool

    @property
    def kind(self) -> Literal["audio", "video"]:
        return "video" if self.has_video else "audio"


@dataclass(frozen=True)
class Audio:
    """Decoded audio: ``samples`` has shape (channels, n) at ``SAMPLE_RATE``."""

    samples: np.ndarray
    info: MediaInfo

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / SAMPLE_RATE

    @property
    def mono(self) -> np.ndarray:
        if self.channels == 1:
            return self.samples[0]
        return self.samples.mean(axis=0, dtype=np.float32)


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _looks_like_mp4(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(12)[4:8] == b"ftyp"


def _open(path: Path, name: str | None = None):
    import av

    if not path.is_file():
        raise NotMediaError(f"{name or path}: no such file")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        if _looks_like_mp4(path):
            # An MP4/MOV whose index (moov atom) never got written: an interrupted export.
            raise TruncatedMediaError(
                f"{name or path.name}: the file is truncated (its index is missing); upload the "
                "complete recording"
            ) from exc
        raise NotMediaError(
            f"{name or path.name}: not an audio or video file that can be decoded "
            f"({type(exc).__name__})"
        ) from exc


def _is_cover_art(stream) -> bool:
    disposition = getattr(stream, "disposition", 0)
    try:
        import av

        return bool(disposition & av.stream.Disposition.attached_pic)
    except (AttributeError, TypeError):
        return False


def _declared_duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def probe(path: Path, options: MediaOptions | None = None, name: str | None = None) -> MediaInfo:
    """Read the container's header: format, audio stream, declared duration. Decodes nothing.
    Messages name the recording ``name`` (default: the file's name)."""
    options = options or MediaOptions()
    with _open(path, name) as container:
        info = _probe_container(path, container, name)
    _check_duration(info, options, name)
    return info


def _probe_container(path: Path, container, name: str | None = None) -> MediaInfo:
    name = name or path.name
    if not container.streams.audio:
        if not container.streams.video:
            # FFmpeg reads text files as subtitle "containers"; that is still not a recording.
            raise NotMediaError(f"{name}: not an audio or video file")
        raise NoAudioStreamError(f"{name}: the video has no audio track")
    stream = container.streams.audio[0]
    return MediaInfo(
        path=path,
        format=container.format.name,
        duration_s=_declared_duration(container, stream),
        channels=stream.codec_context.channels or 1,
        sample_rate=stream.codec_context.sample_rate or 0,
        codec=stream.codec_context.name,
        has_video=any(not _is_cover_art(s) for s in container.streams.video),
    )


def _check_duration(info: MediaInfo, options: MediaOptions, name: str | None = None) -> None:
    if info.duration_s is not None and info.duration_s > options.max_duration_s:
        raise TooLongError(
            f"{name or info.path.name}: the recording is {info.duration_s / 60:.0f} min long; "
            f"the limit is {options.max_duration_s / 60:.0f} min (ASSISTANT_MAX_DURATION_S)"
        )


def _decodes(path: Path, start_s: float, window_s: float) -> float:
    """Seconds of audio decoded at or after ``start_s`` (seeking there first), up to
    ``window_s``. Frames before ``start_s`` do not count: a seek past the real end of a
    truncated file may land anywhere earlier."""
    import av

    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.audio[0]
        if start_s > 0:
            container.seek(int(start_s * 1_000_000), any_frame=False, backward=True)
        got = 0.0
        try:
            for frame in container.decode(stream):
                seconds = frame.samples / (frame.sample_rate or 16_000)
                if frame.time is not None and frame.time + seconds < start_s:
                    continue
                got += seconds
                if got >= window_s:
                    break
        except (av.FFmpegError, EOFError):
            pass
        return got


def check(path: Path, options: MediaOptions | None = None, name: str | None = None) -> MediaInfo:
    """Whether a recording can be used, before it is accepted (an upload, a batch's file):
    cheap checks that catch what a full decode would. Probe the header, then decode a little at
    the start and just before the declared end (a truncated file has nothing there).

    Raises a ``MediaError`` subclass naming the recording ``name`` (default: the file's name;
    an upload's temporary file goes by the name it was sent with)."""
    import av

    options = options or MediaOptions()
    name = name or path.name
    if path.is_file() and path.stat().st_size == 0:
        raise EmptyAudioError(f"{name}: the file is empty")
    info = probe(path, options, name)
    declared = info.duration_s
    if declared is not None and declared < options.min_duration_s:
        raise EmptyAudioError(
            f"{name}: the audio is too short ({declared:.2f} s; at least "
            f"{options.min_duration_s:g} s is needed)"
        )
    try:
        head = _decodes(path, 0.0, CHECK_WINDOW_S)
        tail = (
            _decodes(path, max(declared - CHECK_WINDOW_S - 1.0, 0.0), 0.5)
            if declared and declared > CHECK_WINDOW_S * 2
            else head
        )
    except av.FFmpegError as exc:
        raise TruncatedMediaError(f"{name}: the audio cannot be decoded ({exc})") from exc
    if head < min(options.min_duration_s, declared or options.min_duration_s):
        raise EmptyAudioError(f"{name}: no audio could be decoded from the start of the file")
    if tail <= 0:
        raise TruncatedMediaError(
            f"{name}: the file is truncated: it declares {declared:.1f} s but its audio "
            "stops before that; upload the complete recording"
        )
    return info


def _frames(container, stream, layout: str) -> Iterator[np.ndarray]:
    import av

    resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
    try:
        for frame in container.decode(stream):
            frame.pts = None
            for out in resampler.resample(frame):
                yield out.to_ndarray()
    except (av.FFmpegError, EOFError):
        # A broken tail ends decoding; the length check below decides if enough survived.
        pass
    for out in resampler.resample(None):
        yield out.to_ndarray()


def load_audio(path: Path, options: MediaOptions | None = None) -> Audio:
    """Decode a recording to 16 kHz float32, keeping up to two channels.

    Raises a ``MediaError`` subclass for anything that cannot be used as a call recording.
    """
    options = options or MediaOptions()
    with _open(path) as container:
        info = _probe_container(path, container)
        _check_duration(info, options)
        layout = "mono" if min(info.channels, options.max_channels) == 1 else "stereo"
        max_samples = int(options.max_duration_s * SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        n = 0
        for chunk in _frames(container, container.streams.audio[0], layout):
            chunks.append(chunk.astype(np.float32, copy=False))
            n += chunk.shape[1]
            if n > max_samples:
                raise TooLongError(
                    f"{path.name}: the recording is longer than the limit of "
                    f"{options.max_duration_s / 60:.0f} min (ASSISTANT_MAX_DURATION_S)"
                )
    channels = 1 if layout == "mono" else 2
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)
    decoded_s = samples.shape[1] / SAMPLE_RATE
    if decoded_s < options.min_duration_s:
        raise EmptyAudioError(
            f"{path.name}: the audio is empty or too short ({decoded_s:.2f} s; at least "
            f"{options.min_duration_s:g} s of audio is needed)"
        )
    declared = info.duration_s
    if (
        declared
        and decoded_s < declared * options.min_decoded_fraction
        and declared - decoded_s > 1
    ):
        raise TruncatedMediaError(
            f"{path.name}: the file is truncated: it declares {declared:.1f} s but only "
            f"{decoded_s:.1f} s of audio could be decoded"
        )
    return Audio(samples=np.ascontiguousarray(samples), info=info)
