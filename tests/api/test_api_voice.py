"""Voice enrollment through the API: a rep's voice profile, kept as the pipeline reads it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.profiles import ProfileStore
from tests.api.conftest import DATA, Service


def put_voice(service: Service, viewer: str, user_id: int, path: Path):  # type: ignore[no-untyped-def]
    with open(path, "rb") as fh:
        return service.client.put(
            f"/api/users/{user_id}/voice",
            headers=service.h(viewer),
            files={"file": (path.name, fh)},
        )


def user_id(service: Service, name: str) -> int:
    me = service.client.get("/api/users/me", headers=service.h(name)).json()
    return int(me["id"])


def test_rep_enrolls_own_voice_and_others_cannot(service: Service, tmp_path: Path) -> None:
    alice = user_id(service, "alice")
    r = put_voice(service, "alice", alice, DATA / "jfk.flac")
    assert r.status_code == 201, r.text
    assert r.json()["user"] == "alice" and r.json()["speech_s"] >= 3
    profiles = ProfileStore(service.settings.profiles_dir)
    assert [p.name for p in profiles.list()] == ["alice"]
    assert not list(service.settings.data_dir.joinpath("uploads").glob("*"))  # not kept
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

    assert put_voice(service, "anna.berg", east, DATA / "jfk.flac").status_code == 201
    # Another user's name with the same slug neither finds nor deletes anna.berg's profile.
    r = service.client.delete(f"/api/users/{west}/voice", headers=service.h("anna_berg"))
    assert r.status_code == 404
    assert [p.name for p in profiles.list()] == ["anna.berg"]
    assert put_voice(service, "anna_berg", west, DATA / "jfk.flac").status_code == 201
    assert put_voice(service, "Anna.Berg", west2, DATA / "jfk.flac").status_code == 201
    assert sorted(p.name for p in profiles.list()) == ["Anna.Berg", "anna.berg", "anna_berg"]
    r = service.client.delete(f"/api/users/{west}/voice", headers=service.h("anna_berg"))
    assert r.status_code == 204
    assert sorted(p.name for p in profiles.list()) == ["Anna.Berg", "anna.berg"]


def test_a_profile_stored_under_the_name_moves_to_the_user(service: Service) -> None:
    """Profiles the service stored by name before are taken over by the user of exactly that
    name (never by a look-alike) when they enroll again or delete their voice."""
    from assistant.profiles import VoiceProfile

    alice = user_id(service, "alice")
    profiles = ProfileStore(service.settings.profiles_dir)
    embedding = np.ones(256, dtype=np.float32)
    legacy = profiles.save(VoiceProfile.new("alice", embedding, 5.0))  # by name, as before
    assert legacy.is_file()
    r = service.client.delete(f"/api/users/{alice}/voice", headers=service.h("alice"))
    assert r.status_code == 204
    assert not legacy.exists() and profiles.list() == []
