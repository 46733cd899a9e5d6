"""The model-free parts of transcription: guards, speech maps, windows, the checkpoint reader."""

from __future__ import annotations

import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from assistant.errors import ModelError
from assistant.media import SAMPLE_RATE, load_audio
from assistant.transcribe.convert import convert_state_dict, read_ct2_variables
from assistant.transcribe.faster import _least_bad, _split
from assistant.transcribe.guards import (
    Decoded,
    GuardOptions,
    compression_ratio,
    drop_loops,
    drop_reason,
    is_silence_phrase,
    peak_level,
)
from assistant.transcribe.runner import _attach_translations, _by_turn, _runs, _smooth
from assistant.transcribe.vad import (
    SpeechMap,
    VadOptions,
    pause_near_middle,
    speech_blocks,
    speech_spans,
)
from assistant.transcribe.windows import windows

OPTIONS = GuardOptions()


@pytest.fixture(scope="module")
def speech(data: Path) -> np.ndarray:
    return load_audio(data / "jfk.flac").mono


def test_a_segment_that_repeats_itself_is_dropped(speech: np.ndarray) -> None:
    loop = Decoded(0, 5, "I'm going to go to the store. " * 8)
    assert compression_ratio(loop.text) > 2.4
    assert drop_reason(loop, speech, OPTIONS) == "repetition"


def test_silence_phrase_over_near_silent_audio_is_dropped(speech: np.ndarray) -> None:
    quiet = np.random.default_rng(0).normal(0, 1e-5, 3 * SAMPLE_RATE).astype(np.float32)
    for text in ("Thank you for watching!", "Untertitel im Auftrag des ZDF, 2020", " you"):
        assert is_silence_phrase(text)
        assert drop_reason(Decoded(0, 3, text), quiet, OPTIONS) == "silence phrase"


def test_a_spoken_thank_you_is_kept(speech: np.ndarray) -> None:
    said = Decoded(0, 3, "Thank you.", avg_logprob=-0.2, no_speech_prob=0.05)
    assert drop_reason(said, speech[: 3 * SAMPLE_RATE], OPTIONS, 1.0, peak_level(speech)) is None


def test_quiet_recordings_are_not_mistaken_for_silence(speech: np.ndarray) -> None:
    # The same speech 40 dB quieter (about -60 dBFS, like the FLEURS clips) is still speech.
    soft = speech * 0.01
    segment = Decoded(0, 11, "And so my fellow Americans", avg_logprob=-0.3)
    assert drop_reason(segment, soft, OPTIONS, 1.0, peak_level(soft)) is None
    # ... as is a speaker 40 dB below the other one on the same recording.
    assert drop_reason(segment, soft, OPTIONS, 1.0, peak_level(speech)) is None
    # But a stretch at -80 dBFS is near-silent, whatever Whisper heard in it.
    assert drop_reason(segment, soft * 0.01, OPTIONS, 1.0, peak_level(soft)) is not None


def test_text_over_non_speech_is_dropped(speech: np.ndarray) -> None:
    unsure = Decoded(0, 3, "The wind.", avg_logprob=-1.4, no_speech_prob=0.8)
    assert drop_reason(unsure, speech, OPTIONS) == "non-speech"
    confident = Decoded(0, 3, "Ask not.", avg_logprob=-0.2, no_speech_prob=0.1)
    assert drop_reason(confident, speech, OPTIONS, speech_fraction=0.0) == "non-speech"


def test_loops_across_segments_keep_the_first_repeats() -> None:
    texts = ["Okay.", "Thank you.", "Thank you.", "thank you!", "Thank you.", "Bye."]
    assert drop_loops(texts, 2) == [True, True, True, False, False, True]


def test_speech_map_restores_original_times() -> None:
    spans = [(1 * SAMPLE_RATE, 3 * SAMPLE_RATE), (10 * SAMPLE_RATE, 12 * SAMPLE_RATE)]
    m = SpeechMap(spans)
    assert m.joined_spans_s() == [(0.0, 2.0), (2.0, 4.0)]
    assert m.original_s(0.5) == pytest.approx(1.5)
    assert m.original_s(2.0) == pytest.approx(10.0)  # a start on the boundary: the next span
    assert m.original_s(2.0, is_end=True) == pytest.approx(3.0)  # an end: the span before
    assert m.original_s(3.5) == pytest.approx(11.5)
    assert m.speech_fraction(0.0, 4.0) == pytest.approx(0.5)
    audio = np.arange(13 * SAMPLE_RATE, dtype=np.float32)
    assert len(m.join(audio)) == 4 * SAMPLE_RATE


def test_speech_spans_find_speech_and_skip_silence(speech: np.ndarray) -> None:
    silence = np.zeros(20 * SAMPLE_RATE, dtype=np.float32)
    audio = np.concatenate([silence, speech, silence])
    spans = speech_spans(audio)
    assert spans
    assert spans[0][0] > 19 * SAMPLE_RATE and spans[-1][1] < 32 * SAMPLE_RATE
    assert speech_spans(silence) == []


def test_long_speech_is_cut_in_short_pauses_to_fit_a_block(speech: np.ndarray) -> None:
    """JFK four times with 0.5 s pauses: too short to end speech, so only the length limit cuts
    it, and it cuts in a pause."""
    pause = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    audio = np.concatenate([speech, pause] * 4)
    limit = VadOptions().max_speech_s + 2 * VadOptions().speech_pad_ms / 1000
    spans = speech_spans(audio)
    assert len(spans) >= 2
    assert all((e - s) / SAMPLE_RATE <= limit for s, e in spans)
    for _, end in spans[:-1]:
        # Every cut lies in a pause: the clip is 11.5 s long with its pause.
        assert (end / SAMPLE_RATE) % (len(speech) / SAMPLE_RATE + 0.5) > 10.0


def test_a_block_is_halved_at_its_pause(speech: np.ndarray) -> None:
    gap = np.zeros(SAMPLE_RATE // 5, dtype=np.float32)
    audio = np.concatenate([speech[: 8 * SAMPLE_RATE], gap, speech[: 6 * SAMPLE_RATE]])
    cut = pause_near_middle(audio, 0.0, len(audio) / SAMPLE_RATE)
    assert 8.0 <= cut <= 8.2


def test_speech_blocks_cut_between_spans() -> None:
    spans = [(0.0, 12.0), (12.0, 25.0), (25.0, 40.0), (40.0, 110.0)]
    blocks = speech_blocks(spans, 30.0)
    assert blocks[0] == (0.0, 25.0)
    assert all(e - s <= 30.0 for s, e in blocks)
    assert blocks[-1][1] == 110.0


def test_unsure_or_short_language_blocks_follow_their_neighbour() -> None:
    blocks = [
        (0.0, 30.0, "en", 0.98),
        (30.0, 32.0, "nn", 0.40),
        (32.0, 60.0, "en", 0.91),
        (60.0, 90.0, "de", 0.95),
    ]
    runs = _runs(_smooth(blocks))
    assert [(r.language, r.start_s, r.end_s) for r in runs] == [
        ("en", 0.0, 60.0),
        ("de", 60.0, 90.0),
    ]


def test_translations_attach_to_the_overlapping_segment() -> None:
    source = [Decoded(0, 5, "Guten Tag."), Decoded(5, 12, "Wie geht es Ihnen?")]
    translated = [Decoded(0, 4.5, "Good day."), Decoded(4.8, 11, "How are you?")]
    assert _attach_translations(source, translated, OPTIONS) == ["Good day.", "How are you?"]


def test_a_looping_translation_is_left_out_not_shown() -> None:
    source = [Decoded(0, 5, "Guten Tag."), Decoded(5, 12, "Wie geht es Ihnen?")]
    loop = "he " + "ш" * 45 + "aire"  # a base model's translation sampled at a high temperature
    translated = [Decoded(0, 4.5, "Good day."), Decoded(4.8, 11, loop)]
    assert _attach_translations(source, translated, OPTIONS) == ["Good day.", None]


def test_when_every_decoding_fails_the_one_that_does_not_loop_wins() -> None:
    honest = ([1], "He also attacked everything that came into the water.", -1.02, 0.0)
    loop = ([2], "he " + "ш" * 45 + "aire", -0.31, 0.0)  # more confident, and a loop
    unsure = ([3], "He also raised all the conditions of his territory.", -3.4, 0.0)
    assert _least_bad([honest, loop, unsure], OPTIONS.max_compression_ratio) == honest
    assert _least_bad([loop], OPTIONS.max_compression_ratio) == loop  # nothing better to give


def test_windows_cut_in_pauses_and_cover_everything(speech: np.ndarray) -> None:
    gap = np.zeros(2 * SAMPLE_RATE, dtype=np.float32)
    audio = np.concatenate([speech, gap] * 6)
    parts = windows(audio, 20.0)
    assert sum(len(p) for _, p in parts) == len(audio)
    assert all(len(p) <= 20 * SAMPLE_RATE for _, p in parts)
    for offset, _ in parts[1:]:
        cut = int(offset * SAMPLE_RATE)
        assert np.abs(audio[cut - 800 : cut + 800]).max() < 0.05  # cut in a quiet moment


def _write_ct2(path: Path, variables: dict[str, np.ndarray], version: int = 6) -> None:
    def string(text: str) -> bytes:
        raw = text.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    types = {np.dtype("float32"): 0, np.dtype("int8"): 1, np.dtype("int16"): 2}
    out = struct.pack("<I", version) + string("WhisperSpec") + struct.pack("<I", 3)
    out += struct.pack("<I", len(variables))
    for name, value in variables.items():
        out += string(name) + struct.pack("<B", value.ndim)
        out += b"".join(struct.pack("<I", d) for d in value.shape)
        out += struct.pack("<BI", types[value.dtype], value.nbytes) + value.tobytes()
    out += struct.pack("<I", 0)
    path.write_bytes(out)


def test_reader_dequantizes_int8_weights(tmp_path: Path) -> None:
    weight = np.array([[0.5, -1.0], [0.25, 0.125]], dtype=np.float32)
    scale = (127 / np.abs(weight).max(axis=1)).astype(np.float32)
    quantized = np.rint(weight * scale[:, None]).astype(np.int8)
    _write_ct2(
        tmp_path / "model.bin",
        {"w/weight": quantized, "w/weight_scale": scale, "n": np.array(8, np.int16)},
    )
    variables = read_ct2_variables(tmp_path / "model.bin")
    from assistant.transcribe.convert import _float

    assert np.allclose(_float(variables, "w/weight"), weight, atol=0.01)
    assert int(variables["n"]) == 8


def test_reader_rejects_other_formats(tmp_path: Path) -> None:
    _write_ct2(tmp_path / "model.bin", {}, version=2)
    with pytest.raises(ModelError, match="version 2"):
        read_ct2_variables(tmp_path / "model.bin")


def test_fused_attention_is_split_into_query_key_value() -> None:
    d, heads = 4, 2
    rng = np.random.default_rng(1)
    f32 = lambda *shape: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    v: dict[str, np.ndarray] = {
        "encoder/num_heads": np.array(heads, np.int16),
        "decoder/num_heads": np.array(heads, np.int16),
        "encoder/conv1/weight": f32(d, 80, 3),
        "encoder/conv1/bias": f32(d),
        "encoder/conv2/weight": f32(d, d, 3),
        "encoder/conv2/bias": f32(d),
        "encoder/position_encodings/encodings": f32(1500, d),
        "decoder/embeddings/weight": f32(10, d),
        "decoder/position_encodings/encodings": f32(448, d),
    }
    for scope in ("encoder/layer_0", "decoder/layer_0"):
        for block in ("self_attention", "ffn") + (("attention",) if "decoder" in scope else ()):
            v[f"{scope}/{block}/layer_norm/gamma"] = f32(d)
            v[f"{scope}/{block}/layer_norm/beta"] = f32(d)
        v[f"{scope}/self_attention/linear_0/weight"] = f32(3 * d, d)
        v[f"{scope}/self_attention/linear_0/bias"] = f32(3 * d)
        v[f"{scope}/self_attention/linear_1/weight"] = f32(d, d)
        v[f"{scope}/self_attention/linear_1/bias"] = f32(d)
        v[f"{scope}/ffn/linear_0/weight"] = f32(4 * d, d)
        v[f"{scope}/ffn/linear_0/bias"] = f32(4 * d)
        v[f"{scope}/ffn/linear_1/weight"] = f32(d, 4 * d)
        v[f"{scope}/ffn/linear_1/bias"] = f32(d)
    for name, shape in (("linear_0", (d, d)), ("linear_1", (2 * d, d)), ("linear_2", (d, d))):
        v[f"decoder/layer_0/attention/{name}/weight"] = f32(*shape)
        v[f"decoder/layer_0/attention/{name}/bias"] = f32(shape[0])
    for side in ("encoder", "decoder"):
        v[f"{side}/layer_norm/gamma"] = f32(d)
        v[f"{side}/layer_norm/beta"] = f32(d)
    dims, state = convert_state_dict(v)
    assert dims["n_audio_layer"] == dims["n_text_layer"] == 1
    assert dims["n_audio_head"] == heads and dims["n_vocab"] == 10
    fused = v["encoder/layer_0/self_attention/linear_0/weight"]
    assert np.array_equal(state["encoder.blocks.0.attn.key.weight"], fused[d : 2 * d])
    assert "encoder.blocks.0.attn.key.bias" not in state
    kv = v["decoder/layer_0/attention/linear_1/weight"]
    assert np.array_equal(state["decoder.blocks.0.cross_attn.value.weight"], kv[d:])

    import whisper.model

    model = whisper.model.Whisper(whisper.model.ModelDimensions(**dims))
    import torch

    model.load_state_dict({k: torch.from_numpy(x) for k, x in state.items()})  # strict: all keys


def test_times_near_a_cut_out_silence_stay_with_their_speech() -> None:
    spans = [(1 * SAMPLE_RATE, 3 * SAMPLE_RATE), (300 * SAMPLE_RATE, 302 * SAMPLE_RATE)]
    m = SpeechMap(spans)
    # A segment that starts in the padding at the end of the first span belongs to the second.
    assert m.original_s(1.9) == pytest.approx(300.0)
    assert m.original_s(2.1, is_end=True) == pytest.approx(3.0)
    # A word is placed by its middle, both ends in the same span.
    assert m.original_range_s(1.95, 2.4) == pytest.approx((300.0, 300.4))
    assert m.original_range_s(1.5, 2.02) == pytest.approx((2.5, 3.0))


def test_whisper_output_splits_into_pieces_and_unfinished_windows_resume() -> None:
    """Whisper's token ids: text below ``eot``, timestamps from ``timestamp_begin`` in 20 ms."""
    tokenizer = SimpleNamespace(eot=50257, timestamp_begin=50365)

    def at(seconds: float) -> int:
        return tokenizer.timestamp_begin + round(seconds / 0.02)

    def split(tokens: list[int]) -> tuple[list[tuple[float, float, list[int]]], float | None]:
        pieces, resume = _split(tokens, tokenizer, 10.0, 0.02)
        return [(p["start"], p["end"], p["tokens"]) for p in pieces], resume

    done = [at(0), 1, 2, at(2.4), at(2.6), 3, at(5.0)]
    assert split(done) == ([(0.0, 2.4, [1, 2]), (2.6, 5.0, [3])], None)
    # A next piece begun but not written: resume from its start.
    assert split([at(0), 1, at(2.4), at(2.4)]) == ([(0.0, 2.4, [1])], 2.4)
    # Text cut off without its closing timestamp: dropped, and decoded again from 2.4 s.
    assert split([at(0), 1, at(2.4), at(2.4), 3]) == ([(0.0, 2.4, [1])], 2.4)
    assert split([1, 2]) == ([(0.0, 10.0, [1, 2])], None)


def test_a_turn_surely_in_another_language_becomes_its_own_block() -> None:
    turns = [(0.0, 10.4), (10.4, 14.3), (14.3, 21.7)]
    block = (0.0, 21.7, "de", 0.99)
    # A 3.9 s English answer between German turns; the model is sure of it.
    parts = _by_turn(block, turns, [("de", 0.99), ("en", 0.997), ("de", 0.98)])
    assert [(s, e, lang) for s, e, lang, _ in parts] == [
        (0.0, 10.4, "de"),
        (10.4, 14.3, "en"),
        (14.3, 21.7, "de"),
    ]
    assert [r.language for r in _runs(_smooth(parts))] == ["de", "en", "de"]
    # Unsure of the turn's language: the block stays whole.
    assert _by_turn(block, turns, [None, ("en", 0.7), None]) == [block]
    # A short block the model is unsure of still takes its neighbour's language.
    unsure = [(0.0, 10.4, "de", 0.99), (10.4, 12.4, "en", 0.7), (12.4, 20.0, "de", 0.95)]
    assert [r.language for r in _runs(_smooth(unsure))] == ["de"]
