"""Recordings are stored once per sha256 and shared by every call of that file: a deletion and
an upload of the same file at the same moment, and an upload whose commit fails.

The steps are interleaved through the seams the code calls at those points (an upload that has
its call and file in place but is not committed yet; a thread that finds the recording's lock
taken), with events, not sleeps."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from api.routes import calls as routes
from assistant.store import calls as store
from assistant.store.tables import Call, User
from tests.helpers import DATA
from tests.helpers.service import Service

CLIP = DATA / "jfk.flac"
WAIT_S = 60  # only a broken run ever waits this long


def recording(service: Service, sha256: str) -> Any:
    return store.recording_path(service.settings.recordings_dir, sha256)


def test_delete_does_not_remove_a_file_an_upload_just_reused(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice deletes her call while bob uploads the same file: her deletion is committed, bob's
    upload finds the file and is about to commit its call, and only then does the deletion
    look whether another call holds the file (the steps of ``DELETE /api/calls/{id}``)."""
    first = service.upload("alice", CLIP).json()["call"]
    path = recording(service, first["sha256"])
    assert path.is_file()
    with service.db.session() as session:
        alices = store.get_call(session, session.get(User, first_owner(service)), first["id"])
        store.delete_call(session, alices)

    at_commit, go_on, settled = threading.Event(), threading.Event(), threading.Event()

    def upload_paused(sha256: str) -> None:  # bob's upload: reused the file, not committed
        at_commit.set()
        assert go_on.wait(WAIT_S)

    monkeypatch.setattr(routes, "_upload_kept", upload_paused)
    monkeypatch.setattr(store, "_waiting_for_recording", lambda sha256: settled.set())
    results: dict[str, Any] = {}

    def bob_uploads() -> None:
        results["upload"] = service.upload("bob", CLIP)

    def remove_unused() -> None:
        with service.db.sessions() as session:
            results["removed"] = store.remove_recording_if_unused(
                session, service.settings.recordings_dir, first["sha256"]
            )
        settled.set()

    uploader = threading.Thread(target=bob_uploads)
    uploader.start()
    assert at_commit.wait(WAIT_S)
    remover = threading.Thread(target=remove_unused)
    remover.start()
    # The removal is either done (and had its chance to unlink the file) or waits for the lock.
    assert settled.wait(WAIT_S)
    assert path.is_file(), "the deletion removed the file bob's upload is about to commit"
    assert remover.is_alive(), "the deletion counted the calls before bob's upload committed"
    go_on.set()
    uploader.join(WAIT_S)
    remover.join(WAIT_S)

    assert results["removed"] is False
    assert results["upload"].status_code == 202, results["upload"].text
    bobs = results["upload"].json()["call"]
    assert path.is_file()
    audio = service.client.get(f"/api/calls/{bobs['id']}/audio", headers=service.h("bob"))
    assert audio.status_code == 200 and audio.content == CLIP.read_bytes()


def first_owner(service: Service) -> int:
    with service.db.session() as session:
        alice = session.scalar(select(User).where(User.name == "alice"))
        assert alice is not None
        return alice.id


def test_upload_after_the_deletion_brings_the_file_back(service: Service) -> None:
    first = service.upload("alice", CLIP).json()["call"]
    path = recording(service, first["sha256"])
    r = service.client.delete(f"/api/calls/{first['id']}", headers=service.h("alice"))
    assert r.status_code == 204 and not path.exists()
    again = service.upload("bob", CLIP)
    assert again.status_code == 202 and path.is_file()


def test_failed_commit_leaves_no_file_and_no_call(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    def commit_fails(sha256: str) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(routes, "_upload_kept", commit_fails)
    with pytest.raises(OperationalError):
        service.upload("alice", CLIP)
    assert [p for p in service.files() if "recordings" in p.parts] == []
    assert [p for p in service.files() if "uploads" in p.parts] == []
    with service.db.session() as session:
        assert session.scalar(select(func.count(Call.id))) == 0

    monkeypatch.undo()
    ok = service.upload("alice", CLIP)
    assert ok.status_code == 202
    assert recording(service, ok.json()["call"]["sha256"]).is_file()


def test_failed_commit_keeps_a_file_other_calls_hold(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = service.upload("alice", CLIP).json()["call"]

    def commit_fails(sha256: str) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(routes, "_upload_kept", commit_fails)
    with pytest.raises(OperationalError):
        service.upload("bob", CLIP)
    assert recording(service, first["sha256"]).is_file()
