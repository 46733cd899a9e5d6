"""Customers and follow-ups through the API, on SQLite and PostgreSQL: spellings folded into one
account, rename and merge by a manager, the customer page (timeline, themes first and last
raised, open items, new since the last call, warnings and their dismissal), follow-up buckets,
done with history, the calendar feed and the overdue webhook event."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from assistant.jobs import webhooks
from assistant.store import calls as store
from assistant.store.tables import Account, Item, WebhookDelivery
from tests.helpers import seed_acme
from tests.helpers.service import Service

TODAY = date(2026, 11, 23)  # a Monday


@pytest.fixture()
def acme(service: Service) -> dict[str, int]:
    """The Acme account of tests.helpers.seed_acme, with today fixed."""
    service.client.app.state.today = TODAY  # type: ignore[attr-defined]
    return seed_acme(service.db)


def customer_id(service: Service, call_id: int, user: str = "mia") -> int:
    r = service.client.get(f"/api/calls/{call_id}", headers=service.h(user))
    assert r.status_code == 200, r.text
    with service.db.session() as session:
        account_id = session.scalar(
            select(Account.id).join(store.Call).where(store.Call.id == call_id)
        )
    assert account_id is not None
    return account_id


def test_spellings_fold_into_one_account_per_team(service: Service, acme: dict[str, int]) -> None:
    r = service.client.get("/api/customers", headers=service.h("mia"))
    assert r.status_code == 200, r.text
    names = {c["name"]: c["calls"] for c in r.json()["data"]}
    assert names == {"Acme GmbH": 2, "Acme": 1}
    # a rep sees the customers of their own calls, counting only their calls
    mine = service.client.get("/api/customers", headers=service.h("bob")).json()["data"]
    assert [(c["name"], c["calls"]) for c in mine] == [("Acme GmbH", 1)]
    west = service.client.get("/api/customers", headers=service.h("carol")).json()["data"]
    assert [c["name"] for c in west] == ["Acme GmbH"]
    assert west[0]["id"] != customer_id(service, acme["first"])
    # the call shows the account's spelling, not the upload's
    call = service.client.get(f"/api/calls/{acme['second']}", headers=service.h("mia")).json()
    assert call["customer"] == "Acme GmbH"


def test_merge_and_rename_by_a_manager_only(service: Service, acme: dict[str, int]) -> None:
    target = customer_id(service, acme["first"])
    source = customer_id(service, acme["third"])
    url = f"/api/customers/{target}"
    r = service.client.post(f"{url}/merge", headers=service.h("alice"), json={"sources": [source]})
    assert r.status_code == 403 and "manager" in r.json()["detail"]
    r = service.client.post(f"{url}/merge", headers=service.h("wes"), json={"sources": [source]})
    assert r.status_code == 404  # another team's manager does not see it at all
    r = service.client.post(f"{url}/merge", headers=service.h("mia"), json={"sources": [target]})
    assert r.status_code == 422 and "itself" in r.json()["detail"]
    r = service.client.post(f"{url}/merge", headers=service.h("mia"), json={"sources": [source]})
    assert r.status_code == 200, r.text
    assert r.json()["calls"] == 3
    assert (
        service.client.get(f"/api/customers/{source}", headers=service.h("mia")).status_code == 404
    )
    third = service.client.get(f"/api/calls/{acme['third']}", headers=service.h("alice")).json()
    assert third["customer"] == "Acme GmbH"

    r = service.client.patch(url, headers=service.h("mia"), json={"name": "  ACME   Logistics "})
    assert r.status_code == 200 and r.json()["name"] == "ACME Logistics"
    calls = service.client.get("/api/calls", headers=service.h("mia")).json()["data"]
    assert {c["customer"] for c in calls} == {"ACME Logistics"}
    other = service.client.put(
        f"/api/calls/{acme['third']}/customer",
        headers=service.h("alice"),
        json={"customer": "Globex"},
    )
    assert other.status_code == 200 and other.json()["customer"] == "Globex"
    r = service.client.patch(url, headers=service.h("mia"), json={"name": "globex"})
    assert r.status_code == 409 and "merge" in r.json()["detail"]
    r = service.client.patch(url, headers=service.h("mia"), json={"name": "   "})
    assert r.status_code == 422
    # carol's account in the other team kept its name
    west = service.client.get("/api/customers", headers=service.h("carol")).json()["data"]
    assert [c["name"] for c in west] == ["Acme GmbH"]


def test_moving_the_last_call_away_removes_the_account(
    service: Service, acme: dict[str, int]
) -> None:
    old = customer_id(service, acme["third"])
    r = service.client.put(
        f"/api/calls/{acme['third']}/customer", headers=service.h("alice"), json={"customer": ""}
    )
    assert r.status_code == 200 and r.json()["customer"] == ""
    assert service.client.get(f"/api/customers/{old}", headers=service.h("mia")).status_code == 404
    r = service.client.put(
        f"/api/calls/{acme['west']}/customer", headers=service.h("alice"), json={"customer": "x"}
    )
    assert r.status_code == 404  # not alice's call


def test_customer_page(service: Service, acme: dict[str, int]) -> None:
    account = customer_id(service, acme["first"])
    assert (
        service.client.get(f"/api/customers/{account}", headers=service.h("carol")).status_code
        == 404
    )
    r = service.client.get(f"/api/customers/{account}", headers=service.h("mia"))
    assert r.status_code == 200, r.text
    page = r.json()
    assert [c["id"] for c in page["timeline"]] == [acme["first"], acme["second"]]
    assert page["timeline"][0]["items"] == {"customer_need": 1, "objection": 1, "action_item": 1}
    assert (page["first_call"], page["last_call"]) == ("2026-10-01", "2026-11-02")

    needs = [t for t in page["themes"] if t["kind"] == "customer_need"]
    salesforce = next(t for t in needs if t["calls"] == 2)
    assert (salesforce["first_raised"], salesforce["last_raised"]) == ("2026-10-01", "2026-11-02")
    assert salesforce["new"] is False
    assert [m["call_id"] for m in salesforce["moments"]] == [acme["first"], acme["second"]]
    moment = salesforce["moments"][0]
    assert (
        moment["url"]
        == f"/calls/{acme['first']}?t={moment['start_s']:.1f}&item={moment['item_id']}"
    )
    sso = [t for t in page["new_since_last_call"] if "sign-on" in t["label"]]
    assert len(sso) == 1 and sso[0]["first_raised"] == "2026-11-02"

    buckets = {f["text"][:20]: f["bucket"] for f in page["open_items"]}
    assert buckets == {
        "I will send you the ": "overdue",
        "I will ask our IT le": "this_week",
        "And I will draft the": "no_date",
    }
    assert [f["call_id"] for f in page["new_items"]] == [acme["second"], acme["second"]]

    kinds = {w["kind"] for w in page["warnings"]}
    assert "pricing_not_discussed" not in kinds  # the first call talked about the price
    # bob's own view only holds his call
    bobs = service.client.get(f"/api/customers/{account}", headers=service.h("bob")).json()
    assert [c["id"] for c in bobs["timeline"]] == [acme["second"]]


def test_dismiss_a_warning_with_a_reason(service: Service, acme: dict[str, int]) -> None:
    account = customer_id(service, acme["first"])
    url = f"/api/customers/{account}"
    page = service.client.get(url, headers=service.h("mia")).json()
    assert page["warnings"], "the sample account should raise at least one warning"
    warning = page["warnings"][0]
    body = {"kind": warning["kind"], "subject": warning["subject"], "reason": ""}
    r = service.client.post(f"{url}/warnings/dismiss", headers=service.h("mia"), json=body)
    assert r.status_code == 422
    body["reason"] = "Discussed with the rep on Friday"
    r = service.client.post(f"{url}/warnings/dismiss", headers=service.h("mia"), json=body)
    assert r.status_code == 200, r.text
    assert r.json()["dismissed_by"] == "mia"
    after = service.client.get(url, headers=service.h("mia")).json()
    gone = (warning["kind"], warning["subject"])
    assert gone not in {(w["kind"], w["subject"]) for w in after["warnings"]}
    dismissed = {(w["kind"], w["subject"]): w for w in after["dismissed_warnings"]}
    assert dismissed[gone]["dismissed_reason"] == "Discussed with the rep on Friday"
    body = {"kind": "no_such_kind", "subject": "", "reason": "x"}
    r = service.client.post(f"{url}/warnings/dismiss", headers=service.h("mia"), json=body)
    assert r.status_code == 422 and "no warning" in r.json()["detail"]


def test_follow_ups_done_and_reopened_with_history(service: Service, acme: dict[str, int]) -> None:
    r = service.client.get("/api/followups", headers=service.h("mia"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["today"] == TODAY.isoformat()
    assert body["counts"] == {"overdue": 1, "this_week": 1, "no_date": 1}
    assert {g["rep"]: g["counts"] for g in body["per_rep"]} == {
        "alice": {"overdue": 1},
        "bob": {"this_week": 1, "no_date": 1},
    }
    # due dates sort first, the undated last
    assert [f["bucket"] for f in body["data"]] == ["overdue", "this_week", "no_date"]
    alice = service.client.get("/api/followups", headers=service.h("alice")).json()
    assert [f["rep"] for f in alice["data"]] == ["alice"]
    carol = service.client.get("/api/followups", headers=service.h("carol")).json()
    assert carol["counts"] == {"overdue": 1}

    overdue = body["data"][0]
    r = service.client.post(f"/api/items/{overdue['id']}/done", headers=service.h("alice"))
    assert r.status_code == 200, r.text
    assert [e["action"] for e in r.json()["edits"]] == ["done"]
    after = service.client.get("/api/followups", headers=service.h("mia")).json()
    assert "overdue" not in after["counts"]
    done = service.client.get("/api/followups", params={"done": True}, headers=service.h("mia"))
    assert [f["id"] for f in done.json()["data"]] == [overdue["id"]]
    r = service.client.delete(f"/api/items/{overdue['id']}/done", headers=service.h("alice"))
    assert [e["action"] for e in r.json()["edits"]] == ["done", "reopen"]
    assert (
        service.client.get("/api/followups", headers=service.h("mia")).json()["counts"]["overdue"]
        == 1
    )
    # only action items can be done; another team's item is not found
    with service.db.session() as session:
        need = session.scalar(select(Item.id).where(Item.kind == "customer_need"))
    r = service.client.post(f"/api/items/{need}/done", headers=service.h("mia"))
    assert r.status_code == 422 and "action items" in r.json()["detail"]
    r = service.client.post(f"/api/items/{overdue['id']}/done", headers=service.h("carol"))
    assert r.status_code == 404
    # a rejected item is no follow-up
    service.client.patch(
        f"/api/items/{overdue['id']}", headers=service.h("mia"), json={"review": "rejected"}
    )
    assert (
        "overdue"
        not in service.client.get("/api/followups", headers=service.h("mia")).json()["counts"]
    )


def test_calendar_feed_is_read_only_and_revocable(service: Service, acme: dict[str, int]) -> None:
    r = service.client.post("/api/users/me/calendar", headers=service.h("bob"))
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    path = url[url.index("/calendar/") :]
    feed = service.client.get(path)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    text = feed.text
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert text.count("BEGIN:VEVENT") == 1  # bob's dated open item; the undated one is not
    assert "DTSTART;VALUE=DATE:20261126" in text
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    token = path.removeprefix("/calendar/").removesuffix(".ics")
    # the feed's token opens nothing else
    api = service.client.get("/api/calls", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401
    r = service.client.delete("/api/users/me/calendar", headers=service.h("bob"))
    assert r.status_code == 204
    assert service.client.get(path).status_code == 404


def test_overdue_webhook_event_once_per_due_date(service: Service, acme: dict[str, int]) -> None:
    r = service.client.post(
        "/api/webhooks", headers=service.h("ada"), json={"url": "http://127.0.0.1:9/hook"}
    )
    assert r.status_code == 201, r.text
    with service.db.session() as session:
        assert webhooks.enqueue_overdue(session, TODAY) == 2  # alice's and carol's
    with service.db.session() as session:
        assert webhooks.enqueue_overdue(session, TODAY) == 0
        rows = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event == "item.overdue")
        ).all()
        assert len(rows) == 2 and '"due": "2026-10-05"' in rows[0].payload
        item_id = session.scalar(select(Item.id).where(Item.due == date(2026, 10, 5)))
    # a new due date that passes again is a new event
    service.client.patch(
        f"/api/items/{item_id}", headers=service.h("alice"), json={"due": "2026-11-10"}
    )
    with service.db.session() as session:
        assert webhooks.enqueue_overdue(session, TODAY) == 1


def test_email_draft_of_a_call(service: Service, acme: dict[str, int]) -> None:
    url = f"/api/calls/{acme['first']}/email"
    r = service.client.get(url, headers=service.h("alice"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith("Subject: Follow-up on our call of 1 October 2026\n")
    assert "- We need the planner to integrate with Salesforce, that is a must." in r.text
    with service.db.session() as session:
        need = session.scalar(
            select(Item).where(Item.call_id == acme["first"], Item.kind == "customer_need")
        )
        assert need is not None
        need.review = "rejected"
    assert "Salesforce" not in service.client.get(url, headers=service.h("alice")).text
    assert service.client.get(url, headers=service.h("carol")).status_code == 404
