"""Rep voice profiles: enrolled from real clips, stored as embeddings, matched in a real call."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from assistant import diarize
from assistant.cli import app
from assistant.diarize.profiles import (
    ProfileStore,
    VoiceProfile,
    check_name,
    enroll,
    learn,
    match_profiles,
    relearn,
    slug,
)
from assistant.errors import EmptyAudioError, OptionError
from assistant.media import load_audio
from tests.helpers import conversation

runner = CliRunner()


@pytest.fixture(scope="module")
def anna(data: Path) -> VoiceProfile:
    # LibriSpeech speaker 251; the call below uses two other clips of the same speaker.
    return enroll("Anna Berg", [data / "another_engineer.wav"])


@pytest.fixture(scope="module")
def call():
    return conversation()


def test_enroll_keeps_an_embedding_not_audio(anna: VoiceProfile, tmp_path: Path) -> None:
    assert anna.embedding.shape == (256,)
    assert np.linalg.norm(anna.embedding) == pytest.approx(1.0, abs=1e-5)
    assert 3.0 <= anna.speech_s <= 4.5
    store = ProfileStore(tmp_path / "profiles")
    path = store.save(anna)
    data = json.loads(path.read_text())
    assert set(data) == {
        "version",
        "name",
        "model",
        "embedding",
        "speech_s",
        "recordings",
        "created_at",
    }
    assert len(data["embedding"]) == 256 and len(data["recordings"][0]) == 64  # sha256 only
    assert path.stat().st_size < 8_000
    loaded = store.get("anna  berg")
    assert loaded.name == "Anna Berg"
    assert float(loaded.embedding @ anna.embedding) == pytest.approx(1.0, abs=1e-5)


def test_store_lists_replaces_and_removes(anna: VoiceProfile, tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles")
    assert store.list() == []
    store.save(anna)
    store.save(VoiceProfile.new("Ben Ko", -anna.embedding, 5.0))
    store.save(VoiceProfile.new("anna berg", anna.embedding, 9.0))  # same rep: replaced
    assert [(p.name, p.speech_s) for p in store.list()] == [("anna berg", 9.0), ("Ben Ko", 5.0)]
    store.remove("Ben Ko")
    with pytest.raises(OptionError, match="enrolled: anna berg"):
        store.remove("Ben Ko")


def test_users_are_kept_by_id_and_reps_by_name(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles")
    rng = np.random.default_rng(0)
    names = {7: "anna.berg", 8: "anna_berg", 9: "Anna.Berg"}  # one slug, three people
    for user_id, name in names.items():
        store.save(VoiceProfile.new(name, rng.normal(size=256), 5.0, user_id=user_id))
    store.save(VoiceProfile.new("Anna Berg", rng.normal(size=256), 6.0))  # a rep by name
    listed = store.list()
    assert sorted((p.name, p.user_id) for p in listed) == [
        ("Anna Berg", None),
        ("Anna.Berg", 9),
        ("anna.berg", 7),
        ("anna_berg", 8),
    ]
    assert len({tuple(p.embedding) for p in listed}) == 4
    assert json.loads(store.user_path(8).read_text())["user_id"] == 8
    assert store.remove_user(8) and not store.remove_user(8)
    assert sorted(p.user_id or 0 for p in store.list()) == [0, 7, 9]
    assert store.get("anna berg").speech_s == 6.0  # the command line's rep, untouched


def test_a_profile_stored_by_name_moves_only_to_that_exact_user(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    old = store.save(VoiceProfile.new("anna.berg", np.ones(256), 5.0))  # stored by name before
    assert not store.adopt(8, "anna_berg")  # same file name, another person
    assert old.is_file() and not store.user_path(8).exists()
    assert store.adopt(7, "anna.berg")
    assert not old.exists()
    assert [(p.name, p.user_id) for p in store.list()] == [("anna.berg", 7)]
    assert not store.adopt(7, "anna.berg")  # nothing left to move


def test_unreadable_profile_files_are_skipped(anna: VoiceProfile, tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.save(anna)
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "short.json").write_text(json.dumps({**anna.to_json(), "embedding": [1, 2]}))
    assert [p.name for p in store.list()] == ["Anna Berg"]
    with pytest.raises(OptionError, match="cannot be read"):
        store.get("short")


@pytest.mark.parametrize("name", ["", "   ", "--", "a\x00b", "x" * 65])
def test_bad_names_are_rejected(name: str) -> None:
    with pytest.raises(OptionError):
        check_name(name)


def test_names_fold_to_one_file_key() -> None:
    assert slug("Jürgen  Müller") == slug("jurgen muller") == "jurgen-muller"


def test_enrolling_silence_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(np.zeros(3 * 16_000, np.int16).tobytes())
    with pytest.raises(EmptyAudioError, match="at least 3 s"):
        enroll("Anna", [path])
    with pytest.raises(OptionError):
        enroll("Anna", [])


def test_enrolled_rep_is_found_by_voice_and_named(anna: VoiceProfile, call) -> None:
    audio, reference = call
    found = diarize.diarize(audio, [], profiles=[anna])
    rep = [s for s in found.speakers if s.role == "rep"]
    assert len(rep) == 1 and rep[0].id == "Anna Berg" and rep[0].role_source == "profile"
    assert rep[0].profile_similarity is not None and rep[0].profile_similarity >= 0.78
    assert [s.role for s in found.speakers if s.id != "Anna Berg"] == ["customer"]
    # Role accuracy over the reference turns: 100%.
    turns = found.turns
    role_of = {s.id: s.role for s in found.speakers}
    for start, end, voice in reference:
        assert role_of[diarize.speaker_at(turns, start, end)] == voice


def test_a_voice_that_is_not_enrolled_does_not_match(data: Path, call) -> None:
    stranger = enroll("Stranger", [data / "jfk.flac"])
    audio, _ = call
    found = diarize.diarize(audio, [], profiles=[stranger])
    assert all(s.name is None and s.role_source == "heuristic" for s in found.speakers)
    assert match_profiles(found.diarization.embeddings, [stranger]) == {}


def test_reps_cli_enroll_list_remove(data: Path, assistant_data_dir: Path) -> None:
    result = runner.invoke(app, ["reps", "enroll", "Cara Diaz", str(data / "another_engineer.wav")])
    assert result.exit_code == 0, result.output
    assert (assistant_data_dir / "profiles" / "cara-diaz.json").is_file()
    listed = runner.invoke(app, ["reps", "list"])
    assert listed.exit_code == 0 and "Cara Diaz" in listed.stdout
    removed = runner.invoke(app, ["reps", "remove", "cara diaz"])
    assert removed.exit_code == 0, removed.output
    assert not (assistant_data_dir / "profiles" / "cara-diaz.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["reps", "remove", "Nobody"], "no rep named 'Nobody'"),
        (["reps", "enroll", "Cara", "missing.wav"], "missing.wav: no such file"),
        (["reps", "enroll", "", "tests/data/jfk.flac"], "is empty"),
        (["analyze", "tests/data/jfk.flac", "--rep-channel", "middle"], "--rep-channel must be"),
        (["analyze", "tests/data/jfk.flac", "--speakers", "0"], "--speakers must be between"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_profile_and_diarize_thresholds_agree() -> None:
    from assistant.diarize.profiles import PROFILE_THRESHOLD

    assert diarize.DiarizeOptions().profile_threshold == PROFILE_THRESHOLD
    with pytest.raises(OptionError):
        diarize.DiarizeOptions(profile_threshold=1.5)


def test_transcript_speaker_named_like_an_enrolled_rep_is_the_rep(anna: VoiceProfile) -> None:
    from assistant.report import Segment

    call = [
        Segment(id=0, start_s=0, end_s=3, text="We need a cheaper plan.", speaker="Ben"),
        Segment(id=1, start_s=3, end_s=6, text="Sure, our team can help.", speaker="anna berg"),
    ]
    found = diarize.diarize_transcript(call, profiles=[anna])
    roles = {s.id: (s.role, s.role_source, s.name) for s in found.speakers}
    assert roles == {
        "Ben": ("customer", "transcript", None),
        "Anna Berg": ("rep", "transcript", "Anna Berg"),
    }
    assert [s.speaker for s in found.segments] == ["Ben", "Anna Berg"]


def test_enroll_from_the_reps_channel_of_a_stereo_call(data: Path) -> None:
    left = enroll("Lena Left", [data / "stereo_diarization.wav"], channel="left")
    # The right channel holds only 2.3 s of speech.
    right = enroll("Rob Right", [data / "stereo_diarization.wav"], None, 2.0, channel="right")
    assert float(left.embedding @ right.embedding) < 0.78
    audio = load_audio(data / "stereo_diarization.wav")
    found = diarize.diarize(audio.samples, [], profiles=[right, left])
    assert {(s.id, s.channel, s.role) for s in found.speakers} == {
        ("Lena Left", "left", "rep"),
        ("Rob Right", "right", "rep"),
    }
    with pytest.raises(OptionError, match="one channel"):
        enroll("Anna", [data / "another_engineer.wav"], channel="left")


def test_reps_cli_rejects_a_bad_channel(data: Path) -> None:
    result = runner.invoke(
        app, ["reps", "enroll", "Cara", str(data / "jfk.flac"), "--channel", "middle"]
    )
    assert result.exit_code == 2 and "--channel must be left or right" in result.output


def test_learning_a_voice_from_confirmed_calls(anna: VoiceProfile, tmp_path: Path) -> None:
    """A voice learned from calls: an average by seconds of speech, each call counted once; a
    short speaker teaches nothing; an enrolled profile is never changed by learning."""
    store = ProfileStore(tmp_path)
    rng = np.random.default_rng(0)
    a, b = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 256)))
    assert learn(store, 7, "bea", a, 2.0, "call-1") is None  # under 3 s of speech
    first = learn(store, 7, "bea", a, 10.0, "call-1")
    assert first is not None and first.learned and first.recordings == ("call-1",)
    again = learn(store, 7, "bea", b, 10.0, "call-1")
    assert again is not None and np.allclose(again.embedding, first.embedding, atol=1e-5)
    both = learn(store, 7, "bea", b, 30.0, "call-2")
    assert both is not None and both.speech_s == 40.0 and both.recordings == ("call-1", "call-2")
    expected = (a * 10 + b * 30) / 40
    assert np.allclose(both.embedding, expected / np.linalg.norm(expected), atol=1e-5)
    assert [p.name for p in store.list()] == ["bea"]
    # enrolled from a recording: learning leaves it alone
    enrolled = store.save(VoiceProfile.new("anna", anna.embedding, 20.0, user_id=8))
    assert learn(store, 8, "anna", b, 30.0, "call-3") is None
    kept = VoiceProfile.from_json(json.loads(enrolled.read_text("utf-8")))
    assert not kept.learned and np.allclose(kept.embedding, anna.embedding, atol=1e-5)


def test_relearning_takes_a_wrong_call_back_out(anna: VoiceProfile, tmp_path: Path) -> None:
    """A learned voice made again from the calls it still holds: the voice of a call whose rep
    was corrected leaves no trace; with nothing left, the profile goes; an enrolled profile is
    never touched."""
    store = ProfileStore(tmp_path)
    rng = np.random.default_rng(1)
    mine, stranger = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 256)))
    learn(store, 7, "bea", mine, 20.0, "call-1")
    wrong = learn(store, 7, "bea", stranger, 20.0, "call-2")  # the customer, confirmed by mistake
    assert wrong is not None and float(wrong.embedding @ stranger) > 0.5
    fixed = relearn(store, 7, "bea", [("call-1", mine, 20.0)])
    assert fixed is not None and fixed.learned and fixed.recordings == ("call-1",)
    assert fixed.speech_s == 20.0 and np.allclose(fixed.embedding, mine, atol=1e-5)
    saved = store.user(7)
    assert saved is not None and saved.recordings == ("call-1",)
    assert np.allclose(saved.embedding, mine, atol=1e-5)
    # a voice too short to teach anything counts as none
    assert relearn(store, 7, "bea", [("call-1", mine, 1.0)]) is None
    assert store.user(7) is None
    enrolled = VoiceProfile.new("anna", anna.embedding, 20.0, user_id=8)
    store.save(enrolled)
    kept = relearn(store, 8, "anna", [])
    assert kept is not None and not kept.learned and store.user(8) is not None
    assert np.allclose(kept.embedding, enrolled.embedding, atol=1e-5)
