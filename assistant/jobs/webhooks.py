"""Webhooks: when a job ends, every active webhook gets a signed POST with the call's summary;
when an action item becomes overdue (``item.overdue``), the same with the item.

Deliveries are rows, made in the same transaction that ends the job, and sent by the workers with
exponential backoff, so a receiver that is down for a while still gets every event.

Signature: ``X-Assistant-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256 over ``"<t>.<body>"`` with the webhook's secret. A receiver recomputes it, compares in
constant time and rejects old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.store import followups
from assistant.store.calls import latest_job
from assistant.store.db import Database
from assistant.store.tables import Call, Item, Webhook, WebhookDelivery, utcnow

log = logging.getLogger("assistant.webhooks")

SIGNATURE_HEADER = "X-Assistant-Signature"
MAX_ATTEMPTS = 8


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, tolerance_s: int = 300) -> bool:
    """What a receiver does; used by the tests and documented for integrators."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2.0 * 4 ** max(attempts - 1, 0), 3600.0))


def payload(session: Session, event: str, call: Call) -> dict[str, object]:
    items = session.scalars(
        select(Item).where(Item.call_id == call.id, Item.review != "rejected")
    ).all()
    counts = {kind: sum(i.kind == kind for i in items) for kind in sorted({i.kind for i in items})}
    job = latest_job(session, call)
    return {
        "event": event,
        "call": {
            "id": call.id,
            "title": call.title,
            "customer": call.customer,
            "call_date": call.call_date.isoformat() if call.call_date else None,
            "status": call.status,
            "error": call.error,
            # what kind of failure (assistant.errors), so a receiver need not parse the message
            "error_kind": job.error_kind if call.error and job else None,
            "language": call.language,
            "duration_s": call.duration_s,
            "overview": call.overview,
            "item_counts": counts,
            "next_steps": [i.text for i in items if i.kind == "action_item"],
        },
    }


def enqueue(
    session: Session, event: str, call: Call, extra: dict[str, object] | None = None
) -> int:
    hooks = session.scalars(select(Webhook).where(Webhook.active.is_(True))).all()
    if not hooks:
        return 0
    body = json.dumps({**payload(session, event, call), **(extra or {})}, sort_keys=True)
    for hook in hooks:
        session.add(WebhookDelivery(webhook_id=hook.id, call_id=call.id, event=event, payload=body))
    return len(hooks)


def enqueue_overdue(session: Session, today: date) -> int:
    """An ``item.overdue`` event for each open action item that became overdue (once per due
    date; sent or not, with no webhook registered it is not sent later). Returns how many."""
    items = followups.newly_overdue(session, today)
    for item in items:
        call = session.get_one(Call, item.call_id)
        enqueue(session, "item.overdue", call, {"item": overdue_item(item)})
        item.overdue_sent_at = utcnow()
    session.flush()
    return len(items)


def overdue_item(item: Item) -> dict[str, object]:
    return {
        "id": item.id,
        "text": item.text,
        "owner": item.owner,
        "due": item.due.isoformat() if item.due else None,
        "start_s": item.start_s,
    }


def _post(url: str, secret: str, body: bytes, timeout_s: float) -> int:
    timestamp = int(time.time())
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "sales-call-assistant",
            SIGNATURE_HEADER: sign(secret, body, timestamp),
        },
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return int(response.status)


def deliver_due(
    db: Database, timeout_s: float = 10.0, limit: int = 20, now: datetime | None = None
) -> int:
    """Send deliveries that are due (at ``now``); returns how many were delivered."""
    now = now or utcnow()
    with db.session() as session:
        due = session.execute(
            select(WebhookDelivery.id, Webhook.url, Webhook.secret, WebhookDelivery.payload)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.id)
            .limit(limit)
        ).all()
    delivered = 0
    for delivery_id, url, secret, body in due:
        code: int | None = None
        error: str | None = None
        try:
            code = _post(url, secret, body.encode(), timeout_s)
        except urllib.error.HTTPError as exc:
            code, error = exc.code, f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        with db.session() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                continue
            delivery.attempts += 1
            delivery.response_code = code
            if error is None and code is not None and 200 <= code < 300:
                delivery.status, delivery.delivered_at, delivery.last_error = (
                    "delivered",
                    utcnow(),
                    None,
                )
                delivered += 1
            else:
                delivery.last_error = error or f"HTTP {code}"
                if delivery.attempts >= MAX_ATTEMPTS:
                    delivery.status = "failed"
                else:
                    delivery.next_attempt_at = utcnow() + backoff(delivery.attempts)
                log.info("webhook delivery %s failed: %s", delivery_id, delivery.last_error)
    return delivered
