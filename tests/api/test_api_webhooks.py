"""Webhooks reach a real HTTP receiver (a local server standing in for the remote one), signed,
and are retried with backoff when the receiver fails; retention drops recordings, keeps the rest."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select

from assistant.jobs import webhooks
from assistant.store.calls import expire_recordings
from assistant.store.tables import WebhookDelivery, utcnow
from tests.helpers import DATA
from tests.helpers.service import Service


class Receiver:
    """Answers 500 to the first ``failures`` POSTs, then 204; records what it got."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                failing = len(outer.received) <= outer.failures
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver(failures=1)
    r.thread.start()
    yield r
    r.server.shutdown()


def test_job_done_posts_signed_summary_with_retries(service: Service, receiver: Receiver) -> None:
    created = service.client.post(
        "/api/webhooks", headers=service.h("ada"), json={"url": receiver.url}
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    listed = service.client.get("/api/webhooks", headers=service.h("ada")).json()
    assert [h["url"] for h in listed] == [receiver.url] and "secret" not in listed[0]

    call = service.upload("alice", DATA / "jfk.flac", customer="Acme").json()["call"]
    service.run_jobs()
    db = service.db
    assert webhooks.deliver_due(db) == 0  # the receiver answers 500 the first time
    with db.session() as session:
        delivery = session.scalar(select(WebhookDelivery))
        assert delivery is not None and delivery.status == "pending" and delivery.attempts == 1
        assert delivery.last_error == "HTTP 500"
        retry_at = delivery.next_attempt_at
    assert webhooks.deliver_due(db) == 0  # not due yet: backoff
    assert len(receiver.received) == 1
    assert webhooks.deliver_due(db, now=retry_at + timedelta(seconds=1)) == 1
    assert len(receiver.received) == 2

    headers, body = receiver.received[-1]
    signature = headers[webhooks.SIGNATURE_HEADER]
    assert webhooks.verify(secret, body, signature)
    assert not webhooks.verify("another secret", body, signature)
    assert not webhooks.verify(secret, body + b" ", signature)
    event = json.loads(body)
    assert event["event"] == "call.done"
    assert event["call"]["id"] == call["id"] and event["call"]["customer"] == "Acme"
    assert event["call"]["status"] == "done"
    with db.session() as session:
        delivery = session.scalar(select(WebhookDelivery))
        assert delivery is not None and delivery.status == "delivered"


def test_failed_job_is_announced_too(service: Service, receiver: Receiver) -> None:
    receiver.failures = 0
    service.client.post("/api/webhooks", headers=service.h("ada"), json={"url": receiver.url})
    call = service.upload("alice", DATA / "i_tell_you.wav").json()["call"]
    # the recording vanishes before the worker gets to it: an input error, no retries
    for path in service.settings.recordings_dir.rglob("*"):
        if path.is_file():
            path.unlink()
    service.run_jobs()
    assert webhooks.deliver_due(service.db) == 1
    event = json.loads(receiver.received[0][1])
    assert event["event"] == "call.failed" and event["call"]["id"] == call["id"]
    assert event["call"]["error"]
    job = service.client.get(f"/api/calls/{call['id']}", headers=service.h("alice")).json()["job"]
    assert job["error_kind"] and event["call"]["error_kind"] == job["error_kind"]


def test_webhook_validation_and_delete(service: Service) -> None:
    bad = service.client.post("/api/webhooks", headers=service.h("ada"), json={"url": "ftp:x"})
    assert bad.status_code == 422
    hook = service.client.post(
        "/api/webhooks", headers=service.h("ada"), json={"url": "https://example.com/h"}
    ).json()
    assert (
        service.client.delete(f"/api/webhooks/{hook['id']}", headers=service.h("ada")).status_code
        == 204
    )
    assert (
        service.client.delete(f"/api/webhooks/{hook['id']}", headers=service.h("ada")).status_code
        == 404
    )


def test_retention_deletes_recordings_and_keeps_transcripts(service: Service) -> None:
    call = service.upload("alice", DATA / "jfk.flac").json()["call"]
    service.run_jobs()
    with service.db.session() as session:
        assert expire_recordings(session, service.settings.recordings_dir, 30) == 0  # too new
    later = utcnow() + timedelta(days=31)
    with service.db.session() as session:
        assert expire_recordings(session, service.settings.recordings_dir, 30, now=later) == 1
    assert [p for p in service.files() if "recordings" in p.parts] == []
    audio = service.client.get(f"/api/calls/{call['id']}/audio", headers=service.h("alice"))
    assert audio.status_code == 410 and "retention" in audio.json()["detail"]
    detail = service.client.get(f"/api/calls/{call['id']}", headers=service.h("alice")).json()
    assert detail["has_recording"] is False
    assert "country" in " ".join(s["text"] for s in detail["segments"])
    export = service.client.get(f"/api/calls/{call['id']}/export", headers=service.h("alice"))
    assert export.status_code == 200
