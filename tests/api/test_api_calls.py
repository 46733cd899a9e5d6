"""Calls end to end: upload, the worker runs the real pipeline, read, listen, export, delete."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import unquote

from sqlalchemy import func, select, text

from assistant.store.tables import Call, Item, Job, Segment, Speaker
from tests.helpers import DATA
from tests.helpers.service import Service

JFK_WORDS = ("ask not what your country can do for you", "what you can do for your country")


def test_upload_is_processed_by_the_worker_into_a_full_report(shared: Service) -> None:
    calls = shared.client.get("/api/calls", headers=shared.h("alice")).json()
    assert calls["count"] == 1
    call = calls["data"][0]
    assert call["status"] == "done"
    assert call["rep"] == "alice" and call["customer"] == "Acme GmbH"
    assert call["job"]["status"] == "done" and call["job"]["progress"] == 1.0
    assert 10.5 < call["duration_s"] < 11.5
    detail = shared.client.get(f"/api/calls/{call['id']}", headers=shared.h("alice")).json()
    words = " ".join(s["text"] for s in detail["segments"]).lower()
    for phrase in JFK_WORDS:
        assert phrase in words.replace(",", "")
    starts = [s["start_s"] for s in detail["segments"]]
    assert starts == sorted(starts)
    assert detail["report"]["source"]["path"] == "jfk.flac"  # never the stored sha256 name
    assert detail["report"]["provenance"]["model"] == "tiny.en"
    assert detail["language"] == "en"


def test_job_reports_status_stage_and_progress(service: Service) -> None:
    response = service.upload("bob", DATA / "i_tell_you.wav")
    assert response.status_code == 202
    job = response.json()["job"]
    assert job["status"] == "queued" and job["progress"] == 0.0
    seen = service.client.get(f"/api/jobs/{job['id']}", headers=service.h("bob")).json()
    assert seen["status"] == "queued"
    assert service.run_jobs() == 1
    done = service.client.get(f"/api/jobs/{job['id']}", headers=service.h("bob")).json()
    assert done["status"] == "done" and done["progress"] == 1.0 and done["attempts"] == 1
    assert done["finished_at"] >= done["started_at"]


def test_reupload_returns_the_existing_call_and_runs_nothing(shared: Service) -> None:
    again = shared.upload("alice", DATA / "jfk.flac")
    assert again.status_code == 200
    body = again.json()
    assert body["created"] is False and body["call"]["status"] == "done"
    assert shared.run_jobs() == 0
    with shared.db.session() as session:
        assert session.scalar(select(func.count(Call.id))) == 1
        assert session.scalar(select(func.count(Job.id))) == 1


def test_same_recording_from_another_rep_reuses_the_results(service: Service) -> None:
    first = service.upload("alice", DATA / "another_door.wav").json()
    service.run_jobs()
    second = service.upload("carol", DATA / "another_door.wav")
    assert second.status_code == 202
    assert second.json()["call"]["id"] != first["call"]["id"]
    service.run_jobs()
    a = service.client.get(f"/api/calls/{first['call']['id']}", headers=service.h("alice")).json()
    c = service.client.get(
        f"/api/calls/{second.json()['call']['id']}", headers=service.h("carol")
    ).json()
    assert c["status"] == "done"
    assert [s["text"] for s in a["segments"]] == [s["text"] for s in c["segments"]]
    # one file on disk for both
    assert len([p for p in service.files() if "recordings" in p.parts]) == 1


def test_the_same_recording_with_another_call_date_is_analysed_again(service: Service) -> None:
    """Due dates are read from the call date, so a report made for another date is not
    reused."""
    first = service.upload("alice", DATA / "another_door.wav", call_date="2026-03-02").json()
    second = service.upload("carol", DATA / "another_door.wav", call_date="2026-04-10").json()
    service.run_jobs()
    a = service.client.get(f"/api/calls/{first['call']['id']}", headers=service.h("alice")).json()
    c = service.client.get(f"/api/calls/{second['call']['id']}", headers=service.h("carol")).json()
    assert (a["report"]["call_date"], c["report"]["call_date"]) == ("2026-03-02", "2026-04-10")


def test_list_filters_and_pagination(service: Service) -> None:
    service.upload("alice", DATA / "jfk.flac", customer="Acme GmbH", call_date="2026-03-02")
    service.upload("alice", DATA / "another_door.wav", customer="Globex", call_date="2026-04-10")
    service.upload("bob", DATA / "i_tell_you.wav", customer="Acme GmbH", call_date="2026-05-01")
    service.run_jobs()

    def ids(**params: str) -> list[str]:
        r = service.client.get("/api/calls", headers=service.h("mia"), params=params)
        assert r.status_code == 200, r.text
        return [c["filename"] for c in r.json()["data"]]

    assert len(ids()) == 3
    assert sorted(ids(customer="acme")) == ["i_tell_you.wav", "jfk.flac"]
    assert ids(rep="bob") == ["i_tell_you.wav"]
    assert ids(date_from="2026-04-01", date_to="2026-04-30") == ["another_door.wav"]
    assert ids(status="failed") == []
    assert ids(q="country") == ["jfk.flac"]
    assert ids(q="globex") == ["another_door.wav"]
    page = service.client.get(
        "/api/calls", headers=service.h("mia"), params={"limit": 2, "offset": 2}
    ).json()
    assert page["count"] == 3 and len(page["data"]) == 1
    bad = service.client.get("/api/calls", headers=service.h("mia"), params={"limit": 0})
    assert bad.status_code == 422


def test_audio_supports_range_requests(shared: Service) -> None:
    call_id = shared.client.get("/api/calls", headers=shared.h("alice")).json()["data"][0]["id"]
    url = f"/api/calls/{call_id}/audio"
    whole = shared.client.get(url, headers=shared.h("alice"))
    assert whole.status_code == 200
    assert whole.content == (DATA / "jfk.flac").read_bytes()
    assert whole.headers["content-type"] == "audio/flac"
    assert whole.headers["accept-ranges"] == "bytes"
    part = shared.client.get(url, headers={**shared.h("alice"), "Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.content == whole.content[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(whole.content)}"
    tail = shared.client.get(url, headers={**shared.h("alice"), "Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == whole.content[-100:]
    beyond = shared.client.get(url, headers={**shared.h("alice"), "Range": "bytes=99999999-"})
    assert beyond.status_code == 416


def test_exports_in_every_format(shared: Service) -> None:
    call_id = shared.client.get("/api/calls", headers=shared.h("alice")).json()["data"][0]["id"]
    added = shared.client.post(
        f"/api/calls/{call_id}/items",
        headers=shared.h("alice"),
        json={"kind": "action_item", "text": "Send the proposal", "start_s": 8.0, "end_s": 10.5},
    )
    assert added.status_code == 201

    def export(fmt: str) -> str:
        r = shared.client.get(
            f"/api/calls/{call_id}/export", params={"format": fmt}, headers=shared.h("alice")
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-disposition"] == f'attachment; filename="jfk.{fmt}"'
        return r.text

    report = json.loads(export("json"))
    assert any(i["text"] == "Send the proposal" for i in report["items"])
    assert "country" in " ".join(s["text"] for s in report["segments"])
    assert "## Action items" in export("md") and "Send the proposal" in export("md")
    rows = list(csv.DictReader(io.StringIO(export("csv"))))
    assert [r["text"] for r in rows] == ["Send the proposal"]
    assert rows[0]["review"] == "accepted" and rows[0]["origin"] == "manual"
    srt = export("srt")
    assert srt.startswith("1\n00:00:0") and " --> " in srt
    assert export("vtt").startswith("WEBVTT")
    bad = shared.client.get(
        f"/api/calls/{call_id}/export", params={"format": "docx"}, headers=shared.h("alice")
    )
    assert bad.status_code == 422


def test_export_before_the_job_is_done_is_a_conflict(service: Service) -> None:
    call = service.upload("alice", DATA / "i_tell_you.wav").json()["call"]
    r = service.client.get(f"/api/calls/{call['id']}/export", headers=service.h("alice"))
    assert r.status_code == 409
    assert "queued" in r.json()["detail"]


def test_delete_leaves_nothing_behind(service: Service) -> None:
    call = service.upload("alice", DATA / "jfk.flac").json()["call"]
    service.run_jobs()
    service.client.post(
        f"/api/calls/{call['id']}/items",
        headers=service.h("alice"),
        json={"kind": "customer_need", "text": "Needs a CRM integration"},
    )
    assert service.files()
    r = service.client.delete(f"/api/calls/{call['id']}", headers=service.h("alice"))
    assert r.status_code == 204
    assert service.files() == []
    with service.db.session() as session:
        for model in (Call, Job, Segment, Item, Speaker):
            assert session.scalar(select(func.count()).select_from(model)) == 0
        if service.db.dialect == "sqlite":
            assert session.scalar(text("SELECT count(*) FROM search_fts")) == 0
    gone = service.client.get(f"/api/calls/{call['id']}", headers=service.h("alice"))
    assert gone.status_code == 404
    assert (
        service.client.delete(f"/api/calls/{call['id']}", headers=service.h("alice")).status_code
        == 404
    )


def test_delete_keeps_a_recording_another_call_still_uses(service: Service) -> None:
    a = service.upload("alice", DATA / "another_door.wav").json()["call"]
    service.upload("carol", DATA / "another_door.wav")
    service.run_jobs()
    service.client.delete(f"/api/calls/{a['id']}", headers=service.h("alice"))
    assert len([p for p in service.files() if "recordings" in p.parts]) == 1


def test_openapi_docs_are_served(shared: Service) -> None:
    schema = shared.client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/calls",
        "/api/calls/{call_id}",
        "/api/calls/{call_id}/audio",
        "/api/calls/{call_id}/export",
        "/api/jobs/{job_id}",
        "/api/items/{item_id}",
        "/api/insights/needs",
        "/api/insights/objections",
        "/api/search",
    ):
        assert path in paths
    assert "multipart/form-data" in paths["/api/calls"]["post"]["requestBody"]["content"]
    assert shared.client.get("/docs").status_code == 200


def test_a_failed_call_runs_again_on_retry(service: Service) -> None:
    accepted = service.upload("alice", DATA / "i_tell_you.wav").json()
    call_id = accepted["call"]["id"]
    (stored,) = [p for p in service.files() if "recordings" in p.parts]
    kept = stored.read_bytes()
    stored.unlink()  # the disk lost the recording before the worker got to it
    service.run_jobs()
    failed = service.client.get(f"/api/calls/{call_id}", headers=service.h("alice")).json()
    assert failed["status"] == "failed" and "no such file" in failed["error"]
    stored.write_bytes(kept)
    retry = service.client.post(f"/api/calls/{call_id}/retry", headers=service.h("alice"))
    assert retry.status_code == 202 and retry.json()["status"] == "queued"
    again = service.client.post(f"/api/calls/{call_id}/retry", headers=service.h("alice"))
    assert again.status_code == 409 and "queued" in again.json()["detail"]
    assert service.run_jobs() == 1
    done = service.client.get(f"/api/calls/{call_id}", headers=service.h("alice")).json()
    assert done["status"] == "done" and done["error"] is None and done["segments"]
    assert done["job"]["id"] == retry.json()["id"]
    third = service.client.post(f"/api/calls/{call_id}/retry", headers=service.h("alice"))
    assert third.status_code == 409
    other = service.client.post(f"/api/calls/{call_id}/retry", headers=service.h("carol"))
    assert other.status_code == 404


def test_export_names_a_non_latin_file_in_every_format(service: Service) -> None:
    """RFC 6266: an ASCII ``filename`` for old clients, the real name in ``filename*``."""
    names = {"Звонок.ogg": "call-", "Łódź.ogg": "Lodz", "Angebot März.ogg": "Angebot_Marz"}
    owners = dict(zip(names, ("alice", "bob", "carol"), strict=True))
    ids = {}
    for name, owner in owners.items():
        with open(DATA / "fleurs-en-004.ogg", "rb") as fh:
            r = service.client.post(
                "/api/calls", headers=service.h(owner), files={"file": (name, fh)}
            )
        assert r.status_code == 202, r.text
        ids[name] = r.json()["call"]["id"]
    service.run_jobs()
    for name, fallback in names.items():
        stem = name.rsplit(".", 1)[0]
        for fmt in ("json", "md", "csv", "srt", "vtt"):
            r = service.client.get(
                f"/api/calls/{ids[name]}/export",
                params={"format": fmt},
                headers=service.h(owners[name]),
            )
            assert r.status_code == 200, r.text
            disposition = r.headers["content-disposition"]
            disposition.encode("ascii")  # a header is Latin-1 at most; this one is plain ASCII
            plain = disposition.split('filename="', 1)[1].split('"', 1)[0]
            assert plain.startswith(fallback) and plain.endswith(f".{fmt}")
            assert plain.isascii() and all(c.isalnum() or c in "-_." for c in plain)
            encoded = disposition.split("filename*=", 1)[1]
            assert encoded.startswith("UTF-8''")
            assert unquote(encoded.removeprefix("UTF-8''")) == f"{stem}.{fmt}"


FORMULAS = ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1")


def test_csv_export_neutralises_formulas(service: Service) -> None:
    """OWASP CSV injection: a text cell a spreadsheet would run as a formula starts with '."""
    call = service.upload("alice", DATA / "fleurs-en-004.ogg").json()["call"]
    service.run_jobs()
    for formula in FORMULAS:
        r = service.client.post(
            f"/api/calls/{call['id']}/items",
            headers=service.h("alice"),
            json={"kind": "action_item", "text": formula, "quote": formula, "owner": formula},
        )
        assert r.status_code == 201, r.text
    r = service.client.get(
        f"/api/calls/{call['id']}/export", params={"format": "csv"}, headers=service.h("alice")
    )
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text, newline="")))
    assert [row["text"] for row in rows] == ["'" + formula for formula in FORMULAS]
    assert [row["quote"] for row in rows] == [row["owner"] for row in rows]
    assert [row["quote"] for row in rows] == ["'" + formula for formula in FORMULAS]
    assert rows[0]["start_s"] == "0.0"  # numbers are left as they are
