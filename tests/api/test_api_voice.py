"""Voice enrollment through the API: a job in the worker (202 with the job; its status is
polled), and a rep's voice profile, kept as the pipeline reads it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.diarize.profiles import ProfileStore
from tests.helpers import DATA, conversation, write_wav
from tests.helpers.service import Service


def put_voice(service: Service, viewer: str, user_id: int, path: Path):  # type: ignore[no-untyped-def]
    with open(path, "rb") as fh:
        return service.client.put(
            f"/api/users/{user_id}/voice",
            headers=service.h(viewer),
            files={"file": (path.name, fh)},
        )


def enrolled(service: Service, viewer: str, user_id: int, path: Path) -> dict:
    """Enroll through the API and let the worker run the job; the job as it ended."""
    r = put_voice(service, viewer, user_id, path)
    assert r.status_code == 202, r.text
    assert service.run_jobs() == 1
    job = service.client.get(f"/api/jobs/{r.json()['job']['id']}", headers=service.h(viewer))
    assert job.status_code == 200
    return job.json()  # type: ignore[no-any-return]


def user_id(service: Service, name: str) -> int:
    me = service.client.get("/api/users/me", headers=service.h(name)).json()
    return int(me["id"])


def test_rep_enrolls_own_voice_and_others_cannot(service: Service, tmp_path: Path) -> None:
    alice = user_id(service, "alice")
    r = put_voice(service, "alice", alice, DATA / "jfk.flac")
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    assert r.json()["user"] == "alice" and job["kind"] == "voice" and job["status"] == "queued"
    assert job["user_id"] == alice and job["call_id"] is None
    profiles = ProfileStore(service.settings.profiles_dir)
    assert profiles.list() == []  # the web process did not decode it: a worker will
    for viewer in ("alice", "mia"):
        r = service.client.get(f"/api/jobs/{job['id']}", headers=service.h(viewer))
        assert r.status_code == 200 and r.json()["status"] == "queued"
    for outsider in ("bob", "carol", "wes"):
        r = service.client.get(f"/api/jobs/{job['id']}", headers=service.h(outsider))
        assert r.status_code == 404
    assert service.run_jobs() == 1
    done = service.client.get(f"/api/jobs/{job['id']}", headers=service.h("alice")).json()
    assert done["status"] == "done" and done["progress"] == 1.0 and done["speech_s"] >= 3
    assert [p.name for p in profiles.list()] == ["alice"]
    assert not list(service.settings.data_dir.joinpath("uploads").glob("*"))  # not kept
    assert not [p for p in service.files() if "recordings" in p.parts]
    for outsider in ("bob", "carol", "wes"):
        assert put_voice(service, outsider, alice, DATA / "jfk.flac").status_code == 404
        r = service.client.delete(f"/api/users/{alice}/voice", headers=service.h(outsider))
        assert r.status_code == 404
    text = tmp_path / "voice.mp3"
    text.write_text("not audio")
    assert put_voice(service, "alice", alice, text).status_code == 415
    r = service.client.delete(f"/api/users/{alice}/voice", headers=service.h("mia"))
    assert r.status_code == 204
    assert profiles.list() == []
    r = service.client.delete(f"/api/users/{alice}/voice", headers=service.h("mia"))
    assert r.status_code == 404


def test_profiles_of_users_with_look_alike_names_stay_apart(service: Service) -> None:
    """anna.berg, anna_berg and Anna.Berg were one file once (one slug): each has their own."""
    from assistant.store.users import create_user, issue_token

    with service.db.session() as session:
        for name, team in (("anna.berg", "east"), ("anna_berg", "west"), ("Anna.Berg", "west")):
            service.tokens[name] = issue_token(session, create_user(session, name, "rep", team))
    east, west, west2 = (user_id(service, n) for n in ("anna.berg", "anna_berg", "Anna.Berg"))
    profiles = ProfileStore(service.settings.profiles_dir)

    assert enrolled(service, "anna.berg", east, DATA / "jfk.flac")["status"] == "done"
    # Another user's name with the same slug neither finds nor deletes anna.berg's profile.
    r = service.client.delete(f"/api/users/{west}/voice", headers=service.h("anna_berg"))
    assert r.status_code == 404
    assert [p.name for p in profiles.list()] == ["anna.berg"]
    assert enrolled(service, "anna_berg", west, DATA / "jfk.flac")["status"] == "done"
    assert enrolled(service, "Anna.Berg", west2, DATA / "jfk.flac")["status"] == "done"
    assert sorted(p.name for p in profiles.list()) == ["Anna.Berg", "anna.berg", "anna_berg"]
    r = service.client.delete(f"/api/users/{west}/voice", headers=service.h("anna_berg"))
    assert r.status_code == 204
    assert sorted(p.name for p in profiles.list()) == ["Anna.Berg", "anna.berg"]


def test_a_profile_stored_under_the_name_moves_to_the_user(service: Service) -> None:
    """Profiles the service stored by name before are taken over by the user of exactly that
    name (never by a look-alike) when they enroll again or delete their voice."""
    from assistant.diarize.profiles import VoiceProfile

    alice = user_id(service, "alice")
    profiles = ProfileStore(service.settings.profiles_dir)
    embedding = np.ones(256, dtype=np.float32)
    legacy = profiles.save(VoiceProfile.new("alice", embedding, 5.0))  # by name, as before
    assert legacy.is_file()
    r = service.client.delete(f"/api/users/{alice}/voice", headers=service.h("alice"))
    assert r.status_code == 204
    assert not legacy.exists() and profiles.list() == []


def test_enrollment_that_fails_says_why_and_keeps_nothing(service: Service, tmp_path: Path) -> None:
    """Five seconds of silence is audio, so the upload is accepted; the job finds no speech."""
    from tests.helpers import write_wav

    silence = write_wav(tmp_path / "quiet room.wav", np.zeros(16_000 * 5, np.float32))
    alice = user_id(service, "alice")
    job = enrolled(service, "alice", alice, silence)
    assert job["status"] == "failed" and job["attempts"] == 1  # bad input: not retried
    assert "speech" in job["error"] and "at least" in job["error"]
    for hidden in (str(service.settings.data_dir), "recordings/", "/voice/"):
        assert hidden not in job["error"]
    assert ProfileStore(service.settings.profiles_dir).list() == []
    assert not [p for p in service.files() if "recordings" in p.parts]


def test_enrollment_job_of_a_deleted_user_goes_with_them(service: Service) -> None:
    from sqlalchemy import delete, func, select

    from assistant.store.tables import Job, Token, User

    bob = user_id(service, "bob")
    r = put_voice(service, "bob", bob, DATA / "jfk.flac")
    assert r.status_code == 202
    with service.db.session() as session:
        session.execute(delete(Token).where(Token.user_id == bob))
        session.execute(delete(User).where(User.id == bob))
    with service.db.session() as session:
        assert session.scalar(select(func.count(Job.id)).where(Job.kind == "voice")) == 0
    assert service.run_jobs() == 0


def test_a_confirmed_rep_is_found_by_voice_in_their_next_call(
    service: Service, tmp_path: Path
) -> None:
    """No enrolment: alice confirms which speaker she is in one call (real voices: LibriSpeech
    251 is the rep, FLEURS speakers the customers), and her next call, with other sentences of
    hers and other customers, marks her as the rep by voice."""
    first, reference = conversation()
    r = service.upload("alice", write_wav(tmp_path / "first.wav", first))
    assert r.status_code == 202, r.text
    first_id = r.json()["call"]["id"]
    service.run_jobs()
    call = service.client.get(f"/api/calls/{first_id}", headers=service.h("alice")).json()
    set_rep(service, call, voice_at(call["segments"], reference, "rep"))
    profiles = ProfileStore(service.settings.profiles_dir).list()
    assert [(p.name, p.learned) for p in profiles] == [("alice", True)]

    turns = [
        ("fleurs-en-000.ogg", "customer"),
        ("another_engineer.wav", "rep"),
        ("fleurs-en-001.ogg", "customer"),
    ]
    second, reference = conversation(turns)
    r = service.upload("alice", write_wav(tmp_path / "second.wav", second))
    service.run_jobs()
    call = service.client.get(
        f"/api/calls/{r.json()['call']['id']}", headers=service.h("alice")
    ).json()
    speakers = {s["id"]: s for s in call["report"]["speakers"]}
    assert speakers["alice"]["role"] == "rep" and speakers["alice"]["role_source"] == "profile"
    assert voice_at(call["segments"], reference, "rep") == "alice"
    assert all(s["role"] == "customer" for k, s in speakers.items() if k != "alice")


def set_rep(service: Service, call: dict, label: str | None) -> None:
    """alice says speaker ``label`` of ``call`` is the rep and every other one a customer."""
    updates = [
        {"label": s["label"], "role": "rep" if s["label"] == label else "customer"}
        for s in call["speakers"]
    ]
    r = service.client.patch(
        f"/api/calls/{call['id']}/speakers", headers=service.h("alice"), json={"speakers": updates}
    )
    assert r.status_code == 200, r.text


def voice_at(segments: list[dict], reference: list[tuple[float, float, str]], voice: str) -> str:
    """The speaker label most of ``voice``'s reference time is in."""
    talk: dict[str, float] = {}
    for start, end, who in reference:
        if who != voice:
            continue
        for seg in segments:
            shared = min(end, seg["end_s"]) - max(start, seg["start_s"])
            if shared > 0 and seg["speaker"]:
                talk[seg["speaker"]] = talk.get(seg["speaker"], 0.0) + shared
    return max(talk, key=talk.__getitem__)


def test_a_call_with_one_voice_found_teaches_nothing(service: Service) -> None:
    """One speaker found: its voice may hold the customer's speech too, so confirming it as the
    rep learns no voice."""
    r = service.upload("alice", DATA / "jfk.flac")
    service.run_jobs()
    call = service.client.get(f"/api/calls/{r.json()['call']['id']}", headers=service.h("alice"))
    speakers = call.json()["speakers"]
    assert len(speakers) == 1
    r = service.client.patch(
        f"/api/calls/{call.json()['id']}/speakers",
        headers=service.h("alice"),
        json={"speakers": [{"label": speakers[0]["label"], "role": "rep"}]},
    )
    assert r.status_code == 200, r.text
    assert ProfileStore(service.settings.profiles_dir).list() == []


def test_a_wrong_confirmation_is_taken_back(service: Service, tmp_path: Path) -> None:
    """alice confirms a customer as herself by mistake, then corrects it: the voice learned from
    that call is the rep's alone; when she says she is no one in the call, nothing is learned."""
    from sqlalchemy import select

    from assistant.store.tables import Call

    audio, reference = conversation()
    r = service.upload("alice", write_wav(tmp_path / "call.wav", audio))
    call_id = r.json()["call"]["id"]
    service.run_jobs()
    call = service.client.get(f"/api/calls/{call_id}", headers=service.h("alice")).json()
    rep = voice_at(call["segments"], reference, "rep")
    customer = next(s["label"] for s in call["speakers"] if s["label"] != rep)
    with service.db.session() as session:
        found = session.scalars(select(Call).where(Call.id == call_id)).one()
        voices = {s["id"]: np.asarray(s["voice"]) for s in found.report["speakers"] if s["voice"]}
        seconds = {s["id"]: s["voice_s"] for s in found.report["speakers"]}
    store, alice = ProfileStore(service.settings.profiles_dir), user_id(service, "alice")

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.linalg.norm(v)

    set_rep(service, call, customer)
    wrong = store.user(alice)
    assert wrong is not None and np.allclose(wrong.embedding, unit(voices[customer]), atol=1e-4)
    set_rep(service, call, rep)
    fixed = store.user(alice)
    assert fixed is not None and fixed.learned and len(fixed.recordings) == 1
    assert np.allclose(fixed.embedding, unit(voices[rep]), atol=1e-4)
    assert fixed.speech_s == round(seconds[rep], 2)
    set_rep(service, call, None)
    assert store.user(alice) is None
