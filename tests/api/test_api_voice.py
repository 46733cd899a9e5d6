"""Voice enrollment through the API: a rep's voice profile, kept as the pipeline reads it."""

from __future__ import annotations

from pathlib import Path

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
