"""Webhooks (admins): a URL that gets a signed POST when a call's job is done or failed."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Response
from sqlalchemy import select

from api.deps import AdminUser, SessionDep
from api.schemas import Id, Message, WebhookCreate, WebhookCreated, WebhookPublic
from assistant.store import NotFoundError
from assistant.store.tables import Webhook

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


@router.get("", response_model=list[WebhookPublic], responses={403: {"model": Message}})
def list_webhooks(user: AdminUser, session: SessionDep) -> list[WebhookPublic]:
    hooks = session.scalars(select(Webhook).order_by(Webhook.id)).all()
    return [WebhookPublic.model_validate(h) for h in hooks]


@router.post(
    "", status_code=201, response_model=WebhookCreated, responses={403: {"model": Message}}
)
def create_webhook(body: WebhookCreate, user: AdminUser, session: SessionDep) -> WebhookCreated:
    """Register a URL. Each POST carries ``X-Assistant-Signature: t=<unix>,v1=<hex>``, the
    HMAC-SHA256 of ``"<t>.<body>"`` under the returned secret (shown once)."""
    hook = Webhook(url=str(body.url), secret=secrets.token_hex(32), created_by_id=user.id)
    session.add(hook)
    session.commit()
    return WebhookCreated(**WebhookPublic.model_validate(hook).model_dump(), secret=hook.secret)


@router.delete("/{webhook_id}", status_code=204, responses={404: {"model": Message}})
def delete_webhook(webhook_id: Id, user: AdminUser, session: SessionDep) -> Response:
    hook = session.get(Webhook, webhook_id)
    if hook is None:
        raise NotFoundError(f"No webhook {webhook_id}")
    session.delete(hook)
    session.commit()
    return Response(status_code=204)
