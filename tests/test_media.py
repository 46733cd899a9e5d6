from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant import errors
from assistant.media import SAMPLE_RATE, MediaOptions, load_audio, probe, sha256_file
from tests.helpers import write_video, write_wav


@pytest.fixture(scope="module")
def jfk(data: Path) -> np.ndarray:
    return load_audio(data / "jfk.flac").mono


@pytest.mark.parametrize(
    ("name", "seconds"),
    [
        ("jfk.flac", 11.0),
        ("testing_routine.wav", 3.13),
        ("multilingual.mp3", 59.9),
        ("fleurs-de-000.ogg", 17.9),
    ],
)
def test_decodes_audio_containers_to_16k_float32(data: Path, name: str, seconds: float) -> None:
    audio = load_audio(data / name)
    assert audio.samples.dtype == np.float32
    assert audio.samples.ndim == 2
    assert abs(audio.duration_s - seconds) < 0.1
    assert audio.info.kind == "audio"
    assert audio.mono.min() >= -1.01 and audio.mono.max() <= 1.01


def test_keeps_stereo_channels_apart(data: Path) -> None:
    audio = load_audio(data / "stereo_diarization.wav")
    assert audio.channels == 2
    left, right = audio.samples
    # One speaker per channel: the channels carry different signals.
    assert np.corrcoef(left, right)[0, 1] < 0.5
    assert audio.mono.shape == (audio.samples.shape[1],)


@pytest.mark.parametrize(
    ("suffix", "vcodec", "acodec"),
    [
        (".mp4", "mpeg4", "aac"),
        (".mov", "mpeg4", "aac"),
        (".mkv", "mpeg4", "flac"),
        (".webm", "libvpx", "libopus"),
    ],
)
def test_video_containers_give_their_audio(
    tmp_path: Path, jfk: np.ndarray, suffix: str, vcodec: str, acodec: str
) -> None:
    path = write_video(tmp_path / f"call{suffix}", jfk, vcodec=vcodec, acodec=acodec)
    audio = load_audio(path)
    assert audio.info.kind == "video"
    assert abs(audio.duration_s - len(jfk) / SAMPLE_RATE) < 0.1
    # The same sound survives a lossy round trip: strongly correlated with the original.
    n = min(len(jfk), audio.samples.shape[1]) - 2000
    lag = int(
        np.argmax(
            [np.dot(jfk[1000 : 1000 + n // 4], audio.mono[k : k + n // 4]) for k in range(2000)]
        )
    )
    aligned = audio.mono[lag : lag + n // 4]
    assert np.corrcoef(jfk[1000 : 1000 + n // 4], aligned)[0, 1] > 0.9


def test_probe_reads_header_only(data: Path) -> None:
    info = probe(data / "multilingual.mp3")
    assert info.format == "mp3"
    assert info.duration_s is not None and 59 < info.duration_s < 61
    assert info.channels == 1


def test_not_media_text_file_named_mp3(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp3"
    path.write_text("Call notes: customer wants a discount.\n" * 20)
    with pytest.raises(errors.NotMediaError, match="not an audio or video file"):
        load_audio(path)


def test_not_media_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(errors.NotMediaError):
        load_audio(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.m4a"
    path.write_bytes(b"")
    with pytest.raises(errors.NotMediaError):
        load_audio(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(errors.NotMediaError, match="no such file"):
        load_audio(tmp_path / "nope.wav")


def test_zero_length_audio(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "zero.wav", np.zeros(0, np.float32))
    with pytest.raises(errors.EmptyAudioError, match="empty or too short"):
        load_audio(path)


def test_a_tenth_of_a_second_is_too_short(tmp_path: Path, jfk: np.ndarray) -> None:
    path = write_wav(tmp_path / "blip.wav", jfk[: SAMPLE_RATE // 10])
    with pytest.raises(errors.EmptyAudioError):
        load_audio(path)


def test_video_without_audio(tmp_path: Path) -> None:
    path = write_video(tmp_path / "screen.mp4", None, seconds=2)
    with pytest.raises(errors.NoAudioStreamError, match="no audio track"):
        load_audio(path)


def test_duration_over_the_limit_is_refused_before_decoding(data: Path) -> None:
    options = MediaOptions(max_duration_s=5)
    with pytest.raises(errors.TooLongError, match="limit"):
        probe(data / "jfk.flac", options)
    with pytest.raises(errors.TooLongError):
        load_audio(data / "jfk.flac", options)


def test_truncated_mp3(tmp_path: Path, data: Path) -> None:
    whole = (data / "multilingual.mp3").read_bytes()
    path = tmp_path / "cut.mp3"
    path.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(errors.TruncatedMediaError, match="truncated"):
        load_audio(path)


def test_truncated_mp4_with_index_first(tmp_path: Path, jfk: np.ndarray) -> None:
    whole = write_video(tmp_path / "whole.mp4", jfk).read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(errors.TruncatedMediaError, match="truncated"):
        load_audio(path)


def test_truncated_mp4_without_index(tmp_path: Path, jfk: np.ndarray) -> None:
    whole = write_video(tmp_path / "whole.mp4", jfk, faststart=False).read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(errors.TruncatedMediaError, match="index is missing"):
        load_audio(path)


def test_all_media_errors_are_input_errors() -> None:
    for cls in (
        errors.NotMediaError,
        errors.NoAudioStreamError,
        errors.EmptyAudioError,
        errors.TooLongError,
        errors.TruncatedMediaError,
    ):
        assert issubclass(cls, errors.InputError)
        assert not cls.retryable


def test_sha256_is_content_hash(tmp_path: Path, data: Path) -> None:
    copy = tmp_path / "renamed.flac"
    copy.write_bytes((data / "jfk.flac").read_bytes())
    assert sha256_file(copy) == sha256_file(data / "jfk.flac")
    assert len(sha256_file(copy)) == 64
