"""Transcription on real clips with the real bundled models, on both engines.

Each model loads once per test session (``get_transcriber`` caches it). Most checks use
``tiny.en``, which is quick; the checks that need a multilingual model use ``base``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import ModelError, OptionError
from assistant.media import SAMPLE_RATE, load_audio
from assistant.report import Segment
from assistant.transcribe import (
    ENGINES,
    TranscribeOptions,
    Transcriber,
    Transcript,
    get_transcriber,
)

JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
ENGINE_PARAMS = [pytest.param(e, id=e) for e in ENGINES]


def normalize(text: str, language: str = "en") -> str:
    from whisper.normalizers import BasicTextNormalizer, EnglishTextNormalizer

    return (EnglishTextNormalizer() if language == "en" else BasicTextNormalizer())(text)


def wer(references: list[str], hypotheses: list[str], language: str = "en") -> float:
    import jiwer

    return float(
        jiwer.wer(
            [normalize(r, language) for r in references],
            [normalize(h, language) for h in hypotheses],
        )
    )


@pytest.fixture(scope="session")
def cache_dir(assistant_data_dir: Path) -> Path:
    return assistant_data_dir / "cache"


@pytest.fixture(scope="session")
def transcriber(cache_dir: Path):
    def get(engine: str, model: str) -> Transcriber:
        return get_transcriber(engine, model, "int8", 0, cache_dir)

    return get


@pytest.fixture(scope="session")
def clip(data: Path):
    cache: dict[str, np.ndarray] = {}

    def get(name: str) -> np.ndarray:
        if name not in cache:
            cache[name] = load_audio(data / name).mono
        return cache[name]

    return get


@pytest.fixture(scope="session")
def transcribed(transcriber, clip):
    """A clip's transcript with default options, made once per session and shared by tests."""
    cache: dict[tuple[str, str, str], Transcript] = {}

    def get(engine: str, model: str, name: str) -> Transcript:
        key = (engine, model, name)
        if key not in cache:
            cache[key] = run(transcriber(engine, model), clip(name), model)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def librispeech(data: Path) -> list[dict[str, str]]:
    lines = (data / "librispeech_references.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def text_of(t: Transcript) -> str:
    return " ".join(s.text for s in t.segments)


def run(tr: Transcriber, audio: np.ndarray, model: str, **options: object) -> Transcript:
    return tr.transcribe(audio, TranscribeOptions(model=model, **options))  # type: ignore[arg-type]


def assert_times_sane(segments: list[Segment]) -> None:
    previous_start = 0.0
    for s in segments:
        assert previous_start <= s.start_s <= s.end_s
        previous_start = s.start_s
        word_start = s.start_s
        for w in s.words:
            assert s.start_s <= w.start_s <= w.end_s <= s.end_s
            assert w.start_s >= word_start
            word_start = w.start_s


def test_jfk_exact_sentence_with_base(transcriber, clip) -> None:
    # Every word exactly. The punctuation of int8 decoding differs between machines (CTranslate2
    # picks its kernels for the CPU at run time): on an AMD EPYC with AVX-512 the commas and the
    # final period of this sentence were not emitted.
    t = run(transcriber("faster-whisper", "base"), clip("jfk.flac"), "base")
    assert t.language == "en"
    assert normalize(text_of(t)) == normalize(JFK)


def test_jfk_openai_whisper_with_converted_base(transcriber, clip) -> None:
    # openai-whisper computes in float32; so does CTranslate2 at float32, and both drop the comma
    # after "Americans" that int8 keeps. Every word must still be exactly right.
    t = run(transcriber("openai-whisper", "base"), clip("jfk.flac"), "base")
    assert t.language == "en"
    assert normalize(text_of(t)) == normalize(JFK)


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_jfk_tiny_en(engine: str, transcribed) -> None:
    t = transcribed(engine, "tiny.en", "jfk.flac")
    assert normalize(text_of(t)) == normalize(JFK)
    assert 9.0 < t.segments[-1].end_s < 11.5


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_librispeech_word_error_rate(engine: str, transcribed, librispeech) -> None:
    hypotheses = [text_of(transcribed(engine, "tiny.en", r["audio"])) for r in librispeech]
    assert wer([r["text"] for r in librispeech], hypotheses) <= 0.10


def test_engines_agree_on_the_same_clips(transcribed, librispeech) -> None:
    names = ["jfk.flac", *(r["audio"] for r in librispeech)]
    texts = {
        engine: [text_of(transcribed(engine, "tiny.en", n)) for n in names] for engine in ENGINES
    }
    assert wer(texts["faster-whisper"], texts["openai-whisper"]) <= 0.05


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_german_clip_detected_as_german(engine: str, transcriber, clip) -> None:
    t = run(transcriber(engine, "base"), clip("fleurs-de-000.ogg"), "base")
    assert t.language == "de"
    assert t.segments and all(s.language == "de" for s in t.segments)


def test_beam_search_for_languages_other_than_english() -> None:
    assert TranscribeOptions().beam_for("en") == 1
    assert TranscribeOptions().beam_for("de") == 5
    assert TranscribeOptions(beam_size=3).beam_for("en") == 3


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_german_clips_word_error_rate(engine: str, transcriber, clip, data: Path) -> None:
    # Measured 13.2% on both engines with the default beam 5 for German; greedy decoding gives
    # 17.5% on faster-whisper int8 and 15.8% on openai-whisper.
    names = [f"fleurs-de-{i:03d}" for i in range(5)]
    tr = transcriber(engine, "base")
    hypotheses = [text_of(run(tr, clip(f"{n}.ogg"), "base", language="de")) for n in names]
    references = [(data / f"{n}.txt").read_text(encoding="utf-8") for n in names]
    assert wer(references, hypotheses, "de") <= 0.15


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
@pytest.mark.parametrize("vad", [True, False], ids=["vad", "no-vad"])
def test_silence_gives_no_segments(engine: str, vad: bool, transcriber) -> None:
    silence = np.zeros(60 * SAMPLE_RATE, dtype=np.float32)
    t = run(transcriber(engine, "tiny.en"), silence, "tiny.en", vad=vad)
    assert t.segments == []


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
@pytest.mark.parametrize("vad", [True, False], ids=["vad", "no-vad"])
def test_noise_gives_no_text(engine: str, vad: bool, transcriber) -> None:
    noise = np.random.default_rng(7).normal(0, 0.05, 60 * SAMPLE_RATE).astype(np.float32)
    t = run(transcriber(engine, "tiny.en"), noise, "tiny.en", vad=vad)
    assert text_of(t) == ""


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_word_timestamps_monotonic_and_inside_segments(
    engine: str, transcriber, clip, librispeech
) -> None:
    gap = np.zeros(SAMPLE_RATE, dtype=np.float32)
    audio = np.concatenate([part for r in librispeech for part in (clip(r["audio"]), gap)])
    t = run(transcriber(engine, "tiny.en"), audio, "tiny.en")
    assert t.segments
    assert all(s.words for s in t.segments)
    assert_times_sane(t.segments)


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_english_only_model_refuses_german(engine: str, transcriber, clip) -> None:
    with pytest.raises(OptionError, match="English-only"):
        run(transcriber(engine, "tiny.en"), clip("jfk.flac"), "tiny.en", language="de")


def test_unknown_engine_lists_the_valid_ones(cache_dir: Path) -> None:
    with pytest.raises(OptionError, match="faster-whisper, openai-whisper"):
        get_transcriber("whisper.cpp", "base", "int8", 0, cache_dir)


def test_openai_whisper_rejects_a_file_that_is_not_a_checkpoint(
    cache_dir: Path, tmp_path: Path
) -> None:
    bogus = tmp_path / "model.bin"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"\.pt"):
        get_transcriber("openai-whisper", str(bogus), "int8", 0, cache_dir)


def test_openai_whisper_loads_a_users_own_checkpoint(transcriber, cache_dir: Path, clip) -> None:
    transcriber("openai-whisper", "tiny.en")  # converts and caches the bundled weights
    converted = sorted((cache_dir / "whisper" / "openai").glob("tiny.en-*.pt"))
    assert converted
    user_copy = cache_dir / "users-own.en.pt"
    user_copy.write_bytes(converted[0].read_bytes())
    t = run(transcriber("openai-whisper", str(user_copy)), clip("i_tell_you.wav"), "tiny.en")
    assert normalize(text_of(t)) == normalize("I tell you it is not poison, she cried.")


def _multilingual(engine: str, transcriber, clip) -> None:
    t = run(transcriber(engine, "base"), clip("multilingual.mp3"), "base")
    english = [s for s in t.segments if s.end_s <= 29]
    german = [s for s in t.segments if s.start_s >= 31]
    assert english and german
    assert all(s.language == "en" for s in english)
    assert all(s.language == "de" for s in german)
    assert set(t.languages) == {"en", "de"}
    assert_times_sane(t.segments)


def test_call_that_switches_language_keeps_each_parts_language(transcriber, clip) -> None:
    _multilingual("faster-whisper", transcriber, clip)


@pytest.mark.slow
def test_call_that_switches_language_openai_whisper(transcriber, clip) -> None:
    _multilingual("openai-whisper", transcriber, clip)


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_translate_adds_english_beside_the_german(engine: str, transcriber, clip) -> None:
    audio = clip("fleurs-de-001.ogg")
    t = run(transcriber(engine, "base"), audio, "base", translate=True)
    assert t.segments and all(s.language == "de" for s in t.segments)
    translation = " ".join(s.translation or "" for s in t.segments).lower()
    assert "dinosaur" in translation  # "... ein großer Dinosaurier wie der T-Rex ..."
    assert "dinosaurier" in text_of(t).lower()  # the original transcript stays German


def test_translate_leaves_english_alone(transcriber, clip) -> None:
    t = run(transcriber("faster-whisper", "base"), clip("jfk.flac"), "base", translate=True)
    assert all(s.translation is None for s in t.segments)


def _placed(clips: list[np.ndarray], offsets_s: list[float], total_s: float) -> np.ndarray:
    """``clips`` placed at ``offsets_s`` in a quiet recording (faint noise, like a room)."""
    rng = np.random.default_rng(3)
    audio = rng.normal(0, 3e-4, int(total_s * SAMPLE_RATE)).astype(np.float32)
    for c, offset in zip(clips, offsets_s, strict=True):
        start = int(offset * SAMPLE_RATE)
        audio[start : start + len(c)] += c
    return audio


def _check_placed(t: Transcript, names: list[str], offsets_s: list[float], clip) -> None:
    assert_times_sane(t.segments)
    for name, offset in zip(names, offsets_s, strict=True):
        duration = len(clip(name)) / SAMPLE_RATE
        inside = [s for s in t.segments if offset - 1 <= s.start_s < offset + duration]
        assert inside, f"nothing found for {name} at {offset} s"
        # The first word starts within a second of where the clip was placed.
        assert abs(inside[0].words[0].start_s - offset) <= 1.0, (name, offset, inside[0])
        assert inside[-1].end_s <= offset + duration + 1.0


LONG_CLIPS = ["jfk.flac", "another_door.wav", "i_tell_you.wav", "testing_routine.wav"]


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_long_call_timestamps_follow_the_audio_across_windows(
    engine: str, transcriber, clip
) -> None:
    offsets = [5.0, 58.0, 123.5, 171.0]  # the 60 s windows cut near 60, 120 and 180 s
    audio = _placed([clip(n) for n in LONG_CLIPS], offsets, 200.0)
    t = run(transcriber(engine, "tiny.en"), audio, "tiny.en", window_s=60.0)
    _check_placed(t, LONG_CLIPS, offsets, clip)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_hour_long_call_keeps_time_to_the_second(engine: str, transcriber, clip) -> None:
    names = LONG_CLIPS * 3
    offsets = [float(300 * i + 17 * (i % 5)) for i in range(len(names) - 1)] + [3580.0]
    audio = _placed([clip(n) for n in names], offsets, 3600.0)
    t = run(transcriber(engine, "tiny.en"), audio, "tiny.en")
    _check_placed(t, names, offsets, clip)


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_vocabulary_is_in_the_prompt_of_every_window(
    engine: str, transcriber, clip, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over 30 s of speech is decoded in several blocks; each one gets the names.

    The real model runs; its prompt is only recorded on the way in."""
    tr = transcriber(engine, "tiny.en")
    prompts: list[str] = []
    model = tr.backend._model
    if engine == "faster-whisper":

        class Recorded:
            """The CTranslate2 model, with the prompts it is given written down."""

            def __init__(self, inner) -> None:
                self.inner = inner

            def __getattr__(self, name: str):
                return getattr(self.inner, name)

            def generate(self, features, batch, **kwargs):
                prompts.extend(model.hf_tokenizer.decode(p) for p in batch)
                return self.inner.generate(features, batch, **kwargs)

        monkeypatch.setattr(model, "model", Recorded(model.model))
    else:
        from whisper.tokenizer import get_tokenizer

        tokenizer = get_tokenizer(multilingual=False)
        original = model.decode

        def decode(mel, options):
            prompts.append(tokenizer.decode(list(options.prompt or [])))
            return original(mel, options)

        monkeypatch.setattr(model, "decode", decode)
    gap = np.zeros(SAMPLE_RATE, dtype=np.float32)
    names = ["jfk.flac", "fleurs-en-000.ogg", "fleurs-en-003.ogg", "another_engineer.wav"]
    audio = np.concatenate([part for n in names for part in (clip(n), gap)])
    t = run(tr, audio, "tiny.en", vocabulary=("Brightline", "HubSpot"))
    assert len(prompts) >= 2
    assert all("Brightline, HubSpot" in p for p in prompts)
    # The names steer spelling; they are not written where nobody said them.
    assert "Brightline" not in text_of(t) and "HubSpot" not in text_of(t)


def test_words_survive_a_failure_of_the_word_aligner(transcriber, clip, monkeypatch) -> None:
    """faster-whisper's aligner can fail inside itself on a window (an IndexError on an empty
    alignment; seen on a synthetic-voice call): the words are spread over their segment instead
    of the whole call failing with a traceback."""
    tr = transcriber("faster-whisper", "tiny.en")

    def fail(*args: object, **kwargs: object) -> None:
        raise IndexError("boolean index did not match indexed array along axis 0")

    monkeypatch.setattr(tr.backend._model, "add_word_timestamps", fail)  # type: ignore[attr-defined]
    t = run(tr, clip("jfk.flac"), "tiny.en")
    assert normalize(text_of(t)).split() == normalize(JFK).split()
    for segment in t.segments:
        assert [w.text for w in segment.words] == segment.text.split()
    assert_times_sane(t.segments)
