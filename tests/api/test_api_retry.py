"""Running a failed call again, from the API and from the web page: one rule for both, and a
failure that never shows where the server keeps recordings."""

from __future__ import annotations

import re

from sqlalchemy import select

from assistant.store import calls as store
from assistant.store.tables import Call, Job
from tests.helpers import DATA
from tests.helpers.service import Service


def failed_call(service: Service, user: str = "alice") -> int:
    """An uploaded call whose analysis failed (set in the database: no model needs to run)."""
    r = service.upload(user, DATA / "jfk.flac", title="Pricing call")
    assert r.status_code == 202, r.text
    call_id = int(r.json()["call"]["id"])
    with service.db.session() as session:
        call = session.get(Call, call_id)
        assert call is not None
        call.status, call.error = "failed", "unexpected RuntimeError: out of memory"
        for job in call.jobs:
            job.status = "failed"
    return call_id


def signed_in(service: Service, name: str) -> str:
    """Sign the test client in to the web app; returns the form's CSRF token."""
    form = service.client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf
    service.client.post("/login", data={"token": service.tokens[name], "csrf_token": csrf.group(1)})
    page = service.client.get("/calls").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page) or re.search(
        r'name="csrf-token" content="([^"]+)"', page
    )
    assert token, "not signed in"
    return token.group(1)


def jobs_of(service: Service, call_id: int) -> list[Job]:
    with service.db.session() as session:
        return list(session.scalars(select(Job).where(Job.call_id == call_id)).all())


def test_page_retry_refuses_a_recording_retention_deleted(service: Service) -> None:
    call_id = failed_call(service)
    with service.db.session() as session:
        call = session.get(Call, call_id)
        assert call is not None
        call.recording_deleted_at = call.created_at
        sha256 = call.sha256
    assert store.remove_recording_if_unused(
        service.db.engine, service.settings.recordings_dir, sha256
    )
    before = jobs_of(service, call_id)
    api = service.client.post(f"/api/calls/{call_id}/retry", headers=service.h("alice"))
    assert api.status_code == 409 and "retention" in api.json()["detail"]

    csrf = signed_in(service, "alice")
    page = service.client.post(
        f"/calls/{call_id}/retry", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert page.status_code == 409
    assert "retention" in page.text
    assert len(jobs_of(service, call_id)) == len(before)  # no job that must fail
    assert service.run_jobs() == 0
    assert (
        service.client.get(f"/api/calls/{call_id}", headers=service.h("alice")).json()["status"]
        == "failed"
    )


def test_page_retry_runs_the_same_path_as_the_api(service: Service) -> None:
    call_id = failed_call(service)
    csrf = signed_in(service, "alice")
    page = service.client.post(
        f"/calls/{call_id}/retry", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert page.status_code == 303
    jobs = jobs_of(service, call_id)
    assert len(jobs) == 2 and jobs[-1].status == "queued"
    # Twice in a row: the job is queued now, so nothing more is queued.
    again = service.client.post(
        f"/calls/{call_id}/retry", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert again.status_code in (303, 409)
    assert len(jobs_of(service, call_id)) == 2


def test_failure_of_a_missing_recording_names_no_server_path(service: Service) -> None:
    """The file vanished outside the retention policy (a disk cleaned by hand): the job fails,
    and neither the API nor the page says where the server keeps recordings."""
    call_id = failed_call(service)
    with service.db.session() as session:
        call = session.get(Call, call_id)
        assert call is not None
        path = store.recording_path(service.settings.recordings_dir, call.sha256)
        sha256 = call.sha256
    path.unlink()
    csrf = signed_in(service, "alice")
    page = service.client.post(
        f"/calls/{call_id}/retry", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert page.status_code == 303
    assert service.run_jobs() == 1
    body = service.client.get(f"/api/calls/{call_id}", headers=service.h("alice")).json()
    assert body["status"] == "failed"
    shown = [body["error"], body["job"]["error"], service.client.get(f"/calls/{call_id}").text]
    for text in shown:
        assert str(service.settings.data_dir) not in text
        assert "recordings/" not in text and sha256 not in text
    assert "jfk.flac" in body["error"]


def test_english_only_model_failure_says_so_not_missing_models(service: Service) -> None:
    """A German call on the English-only ``tiny.en``: the job fails with an option error, and the
    page says what the error says, never that the models are missing."""
    r = service.upload("alice", DATA / "fleurs-de-000.ogg", language="de")
    assert r.status_code == 202, r.text
    call_id = int(r.json()["call"]["id"])
    assert service.run_jobs() == 1
    body = service.client.get(f"/api/calls/{call_id}", headers=service.h("alice")).json()
    assert body["status"] == "failed"
    assert body["job"]["error_kind"] == "option"
    assert "English-only" in body["error"]

    signed_in(service, "alice")
    page = service.client.get(f"/calls/{call_id}").text
    failure = page.split('data-testid="failure"', 1)[1].split("</section>", 1)[0]
    assert "English-only" in failure
    assert "not available" not in failure


def test_uploading_a_failed_call_again_runs_it_again(service: Service) -> None:
    """The same rule as a batch run again: a call whose job failed gets a new job; a call that
    is done (or still queued) returns its job as it is."""
    call_id = failed_call(service)
    again = service.upload("alice", DATA / "jfk.flac")
    assert again.status_code == 202, again.text
    body = again.json()
    assert body["created"] is True and body["call"]["id"] == call_id
    assert body["call"]["status"] == "queued" and body["call"]["error"] is None
    jobs = jobs_of(service, call_id)
    assert len(jobs) == 2 and jobs[-1].status == "queued" and body["job"]["id"] == jobs[-1].id

    queued = service.upload("alice", DATA / "jfk.flac")
    assert queued.status_code == 200 and queued.json()["created"] is False
    assert len(jobs_of(service, call_id)) == 2
