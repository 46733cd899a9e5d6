"""Review (accept, reject, edit, add, speakers), insights across calls, and search."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from assistant.report import CallReport
from assistant.store.calls import NewCall, create_call, save_report
from assistant.store.tables import Call, User
from tests.helpers import DATA
from tests.helpers.service import Service


@pytest.fixture()
def three_calls(service: Service) -> list[int]:
    """alice: two calls (Acme in March, Globex in April); bob: one (Initech in May)."""
    uploads = [
        ("alice", "another_door.wav", "Acme", "2026-03-02"),
        ("alice", "another_engineer.wav", "Globex", "2026-04-10"),
        ("bob", "testing_routine.wav", "Initech", "2026-05-20"),
    ]
    ids = []
    for user, name, customer, day in uploads:
        r = service.upload(user, DATA / name, customer=customer, call_date=day)
        assert r.status_code == 202, r.text
        ids.append(r.json()["call"]["id"])
    assert service.run_jobs() == 3
    return ids


def add(service: Service, user: str, call_id: int, kind: str, text: str, **extra: object) -> dict:
    r = service.client.post(
        f"/api/calls/{call_id}/items",
        headers=service.h(user),
        json={"kind": kind, "text": text, "quote": text, "start_s": 1.0, "end_s": 2.0, **extra},
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_review_accept_reject_edit_with_history(service: Service, three_calls: list[int]) -> None:
    item = add(service, "alice", three_calls[0], "action_item", "Send pricing")
    assert item["review"] == "accepted" and item["origin"] == "manual"
    url = f"/api/items/{item['id']}"
    r = service.client.patch(url, headers=service.h("mia"), json={"review": "rejected"})
    assert r.status_code == 200 and r.json()["review"] == "rejected"
    r = service.client.patch(
        url,
        headers=service.h("mia"),
        json={"text": "Send the pricing sheet", "owner": "Alice", "due": "2026-03-06"},
    )
    body = r.json()
    assert body["text"] == "Send the pricing sheet" and body["owner"] == "Alice"
    assert body["due"] == "2026-03-06" and body["edited"] is True
    assert body["review"] == "rejected"  # editing does not undo an explicit rejection
    r = service.client.patch(url, headers=service.h("alice"), json={"review": "accepted"})
    body = r.json()
    assert body["reviewed_by"] == "alice" and body["reviewed_at"]
    actions = [(e["user"], e["action"]) for e in body["edits"]]
    assert actions == [
        ("alice", "add"),
        ("mia", "rejected"),
        ("mia", "edit"),
        ("alice", "accepted"),
    ]
    assert body["edits"][2]["changes"]["text"] == ["Send pricing", "Send the pricing sheet"]
    assert body["edits"][2]["changes"]["due"] == [None, "2026-03-06"]


def test_review_rejects_bad_values(service: Service, three_calls: list[int]) -> None:
    item = add(service, "alice", three_calls[0], "objection", "Too expensive", category="price")
    url = f"/api/items/{item['id']}"
    for body in (
        {"review": "maybe"},
        {"category": "colour"},
        {"text": ""},
        {"due": "next week"},
        {"confidence": 0.1},
        {"kind": "joke"},
    ):
        r = service.client.patch(url, headers=service.h("alice"), json=body)
        assert r.status_code == 422, body
    r = service.client.post(
        f"/api/calls/{three_calls[0]}/items",
        headers=service.h("alice"),
        json={"kind": "customer_need", "text": "x", "start_s": 5000},
    )
    assert r.status_code == 422 and "after the end" in r.json()["detail"]


def test_rejected_items_leave_exports(service: Service, three_calls: list[int]) -> None:
    keep = add(service, "alice", three_calls[0], "action_item", "Book a demo")
    drop = add(service, "alice", three_calls[0], "action_item", "Call back in 2030")
    service.client.patch(
        f"/api/items/{drop['id']}", headers=service.h("alice"), json={"review": "rejected"}
    )
    report = service.client.get(
        f"/api/calls/{three_calls[0]}/export", headers=service.h("alice")
    ).json()
    assert [i["text"] for i in report["items"]] == [keep["text"]]
    detail = service.client.get(f"/api/calls/{three_calls[0]}", headers=service.h("alice")).json()
    assert {i["review"] for i in detail["items"]} == {"accepted", "rejected"}


def test_speaker_names_and_roles(service: Service) -> None:
    r = service.upload("alice", DATA / "stereo_diarization.wav")
    call_id = r.json()["call"]["id"]
    service.run_jobs()
    detail = service.client.get(f"/api/calls/{call_id}", headers=service.h("alice")).json()
    url = f"/api/calls/{call_id}/speakers"
    bad = service.client.patch(
        url, headers=service.h("alice"), json={"speakers": [{"label": "NOPE", "role": "rep"}]}
    )
    assert bad.status_code == 422 and "NOPE" in bad.json()["detail"]
    wrong_role = service.client.patch(
        url, headers=service.h("alice"), json={"speakers": [{"label": "x", "role": "boss"}]}
    )
    assert wrong_role.status_code == 422
    labels = [s["label"] for s in detail["speakers"]]
    if not labels:
        # Until diarization labels voices, store the report with two labelled speakers the way
        # the worker stores results; what is under test is the speakers endpoint.
        labels = ["S1", "S2"]
        with service.db.session() as session:
            call = session.get(Call, call_id)
            assert call is not None and call.report is not None
            report = CallReport.model_validate(call.report)
            segments = [
                s.model_copy(update={"speaker": labels[n % 2]})
                for n, s in enumerate(report.segments)
            ]
            save_report(session, call, report.model_copy(update={"segments": segments}))
    first = labels[0]
    r = service.client.patch(
        url,
        headers=service.h("alice"),
        json={"speakers": [{"label": first, "name": "Alice Smith", "role": "rep"}]},
    )
    assert r.status_code == 200
    assert {"label": first, "name": "Alice Smith", "role": "rep"}.items() <= r.json()[0].items()
    detail = service.client.get(f"/api/calls/{call_id}", headers=service.h("alice")).json()
    mine = [s for s in detail["segments"] if s["speaker"] == first]
    assert mine and all(s["role"] == "rep" and s["speaker_name"] == "Alice Smith" for s in mine)
    export = service.client.get(f"/api/calls/{call_id}/export", headers=service.h("alice")).json()
    assert "Alice Smith" in {s["speaker"] for s in export["segments"]}
    word = max(mine[0]["text"].split(), key=len).strip(".,!?")
    found = service.client.get("/api/search", params={"q": word}, headers=service.h("alice"))
    assert "Alice Smith" in {h["speaker"] for h in found.json()["data"]}


def test_insights_group_needs_into_themes(service: Service, three_calls: list[int]) -> None:
    acme, globex, initech = three_calls
    add(service, "alice", acme, "customer_need", "We need an integration with Salesforce")
    add(service, "alice", globex, "customer_need", "Does it integrate with our Salesforce CRM?")
    add(service, "bob", initech, "customer_need", "A Salesforce integration is a must for us")
    add(service, "alice", acme, "customer_need", "The transcripts must also work in German")
    rejected = add(service, "bob", initech, "customer_need", "We need German transcripts too")
    service.client.patch(
        f"/api/items/{rejected['id']}", headers=service.h("bob"), json={"review": "rejected"}
    )
    add(service, "alice", acme, "objection", "The price is too high", category="price")

    r = service.client.get("/api/insights/needs", headers=service.h("mia"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "customer_need" and body["count"] == 4
    top = body["themes"][0]
    assert "salesforce" in top["label"].lower()
    assert top["calls"] == 3 and top["customers"] == 3 and top["count"] == 3
    moment = top["items"][0]
    assert moment["url"].startswith(f"/api/calls/{moment['call_id']}/audio#t=")
    german = [t for t in body["themes"] if "german" in t["label"].lower()]
    assert len(german) == 1 and german[0]["count"] == 1  # the rejected one does not count

    only_bob = service.client.get(
        "/api/insights/needs", headers=service.h("mia"), params={"rep": "bob"}
    ).json()
    assert only_bob["count"] == 1
    march = service.client.get(
        "/api/insights/needs",
        headers=service.h("mia"),
        params={"date_from": "2026-03-01", "date_to": "2026-03-31"},
    ).json()
    assert march["count"] == 2
    objections = service.client.get("/api/insights/objections", headers=service.h("ada")).json()
    assert [t["label"] for t in objections["themes"]] == ["The price is too high"]
    # bob sees only his own
    assert service.client.get("/api/insights/needs", headers=service.h("bob")).json()["count"] == 1


def test_search_transcripts_and_items(service: Service, three_calls: list[int]) -> None:
    add(service, "alice", three_calls[1], "objection", "Their Zendesk contract runs until June")
    r = service.client.get("/api/search", params={"q": "zendesk"}, headers=service.h("alice"))
    hits = r.json()["data"]
    assert len(hits) == 1 and hits[0]["kind"] == "item" and hits[0]["call_id"] == three_calls[1]
    assert "<mark>" in hits[0]["snippet"].lower()
    transcript = service.client.get(f"/api/calls/{three_calls[0]}", headers=service.h("alice"))
    word = max(transcript.json()["segments"][0]["text"].split(), key=len).strip(".,!?")
    r = service.client.get("/api/search", params={"q": word}, headers=service.h("alice"))
    seg_hits = [h for h in r.json()["data"] if h["kind"] == "segment"]
    assert seg_hits and seg_hits[0]["call_id"] == three_calls[0]
    assert seg_hits[0]["start_s"] >= 0 and word.lower() in seg_hits[0]["snippet"].lower()
    # query syntax is just text, never an error
    for q in ('"', "AND OR NOT", "a* OR (b", "NEAR(x y)", "'; DROP TABLE calls; --", "ü*"):
        r = service.client.get("/api/search", params={"q": q}, headers=service.h("alice"))
        assert r.status_code == 200, q
    assert (
        service.client.get("/api/search", params={"q": ""}, headers=service.h("alice")).status_code
        == 422
    )


def test_review_null_for_a_required_field_is_a_clear_422(service: Service) -> None:
    with service.db.session() as session:
        alice = session.scalar(select(User).where(User.name == "alice"))
        assert alice is not None
        new = NewCall("ab" * 32, "call.m4a", 1000, "mp4", "audio", 60.0)
        call_id = create_call(session, alice, new)[0].id
    item = add(service, "alice", call_id, "objection", "Too expensive", category="price")
    url = f"/api/items/{item['id']}"
    for field in ("kind", "text"):
        r = service.client.patch(url, headers=service.h("alice"), json={field: None})
        assert r.status_code == 422, r.text
        assert field in r.json()["detail"]
    kept = service.client.get(url, headers=service.h("alice")).json()
    assert kept["kind"] == "objection" and kept["text"] == "Too expensive"
    cleared = service.client.patch(url, headers=service.h("alice"), json={"category": None})
    assert cleared.status_code == 200 and cleared.json()["category"] is None
