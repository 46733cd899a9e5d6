"""Insights read the embeddings stored with the items: the web process never embeds a call's
items, embeds at most a few missing ones per request, and a request's threshold is bounded."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from assistant import embeddings
from assistant.jobs.worker import backfill_embeddings, item_embeddings
from assistant.report import CallReport
from assistant.report import Item as ReportItem
from assistant.store import insights
from assistant.store.calls import save_report
from assistant.store.tables import Call, Item
from tests.helpers import DATA
from tests.helpers.service import Service

NEEDS = [
    "We need an integration with Salesforce",
    "Does it integrate with our Salesforce CRM?",
    "A Salesforce integration is a must for us",
    "The transcripts must also work in German",
]


def upload(service: Service, user: str = "alice") -> int:
    r = service.upload(user, DATA / "jfk.flac", customer="Acme")
    assert r.status_code == 202, r.text
    return int(r.json()["call"]["id"])


def add_need(service: Service, call_id: int, text: str, user: str = "alice") -> dict:
    r = service.client.post(
        f"/api/calls/{call_id}/items",
        headers=service.h(user),
        json={"kind": "customer_need", "text": text, "start_s": 1.0, "end_s": 2.0},
    )
    assert r.status_code == 201, r.text
    return r.json()


def no_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, any use of the sentence encoder fails the test."""

    def refuse() -> None:
        raise AssertionError("the sentence encoder ran inside an insights request")

    monkeypatch.setattr(embeddings, "get_sentence_encoder", refuse)


def needs(service: Service, user: str = "mia", **params: object) -> dict:
    r = service.client.get("/api/insights/needs", headers=service.h(user), params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_requests_group_stored_embeddings_without_the_encoder(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id = upload(service)
    for text in NEEDS:
        add_need(service, call_id, text)  # an item added by hand is embedded right then
    no_encoder(monkeypatch)
    body = needs(service)
    assert body["count"] == 4 and body["pending"] == 0
    top = body["themes"][0]
    assert "salesforce" in top["label"].lower() and top["count"] == 3
    assert [t["count"] for t in body["themes"]] == [3, 1]
    short = needs(service, items_per_theme=1)["themes"][0]
    assert short["count"] == 3 and len(short["items"]) == 1
    for bad in (0, 501):
        r = service.client.get(
            "/api/insights/needs", headers=service.h("mia"), params={"items_per_theme": bad}
        )
        assert r.status_code == 422


def test_edited_text_gets_a_new_embedding(service: Service) -> None:
    call_id = upload(service)
    item = add_need(service, call_id, "We need an integration with Salesforce")
    with service.db.session() as session:
        before = session.scalar(select(Item.embedding).where(Item.id == item["id"]))
    r = service.client.patch(
        f"/api/items/{item['id']}",
        headers=service.h("alice"),
        json={"text": "Invoices must be monthly"},
    )
    assert r.status_code == 200
    with service.db.session() as session:
        after = session.scalar(select(Item.embedding).where(Item.id == item["id"]))
    assert before is not None and after is not None and after != before
    expected = insights.embed(["Invoices must be monthly"])[0]
    vector = insights.from_bytes(after)
    assert vector is not None and float(vector @ expected) > 0.999


def test_threshold_is_bounded(service: Service) -> None:
    for bad in (0.95, 0.99, 0.1):
        r = service.client.get(
            "/api/insights/needs", headers=service.h("mia"), params={"threshold": bad}
        )
        assert r.status_code == 422, bad
    assert needs(service, threshold=0.9)["count"] == 0


def test_missing_embeddings_are_filled_a_few_per_request_and_by_the_worker(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items from before embeddings were stored (as the migration leaves them)."""
    call_id = upload(service)
    for text in NEEDS:
        add_need(service, call_id, text)
    with service.db.session() as session:
        session.execute(update(Item).values(embedding=None))
    monkeypatch.setattr(insights, "LAZY_EMBED_LIMIT", 1)
    body = needs(service)
    assert body["count"] == 4 and body["pending"] == 3
    assert sum(t["count"] for t in body["themes"]) == 1
    assert needs(service)["pending"] == 2  # the one embedded before was stored

    assert service.worker is not None
    assert backfill_embeddings(service.db) == 2
    no_encoder(monkeypatch)
    body = needs(service)
    assert body["pending"] == 0 and [t["count"] for t in body["themes"]] == [3, 1]


def test_the_worker_stores_embeddings_with_a_calls_items(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_id = upload(service)
    assert service.run_jobs() == 1
    with service.db.session() as session:
        call = session.get(Call, call_id)
        assert call is not None and call.report is not None
        report = CallReport.model_validate(call.report)
        items = [
            ReportItem(
                id=n,
                kind=kind,
                text=text,
                quote=text,
                start_s=float(n),
                end_s=n + 1.0,
                confidence=0.9,
            )
            for n, (kind, text) in enumerate(
                [
                    ("customer_need", NEEDS[0]),
                    ("customer_need", NEEDS[2]),
                    ("objection", "The price is too high"),
                    ("action_item", "Send the offer on Friday"),
                ]
            )
        ]
        report = report.model_copy(update={"items": items})
        embeddings = item_embeddings(report)  # what the worker stores with the report
        assert sorted(embeddings) == [0, 1, 2]
        save_report(session, call, report, embeddings)
    no_encoder(monkeypatch)
    body = needs(service, user="alice")
    assert body["count"] == 2 and body["pending"] == 0
    assert [t["count"] for t in body["themes"]] == [2]
    objections = service.client.get("/api/insights/objections", headers=service.h("alice"))
    assert [t["label"] for t in objections.json()["themes"]] == ["The price is too high"]
