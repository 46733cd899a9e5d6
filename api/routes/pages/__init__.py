"""The web app: server-rendered pages over the same store, roles and API as the service.

Pages read with the signed-in user's visibility (``assistant.store.access.visible``), so a page
shows exactly what the JSON API would. Changes go through the JSON API from the page's script
(with the ``X-CSRF-Token`` header) or through the few forms here (with the ``csrf_token``
field). Someone who is not signed in is sent to ``/login``.

::

    /            -> /calls or /login
    /login       sign in with a token (the one-time link is /api/auth/login?token=...)
    /calls       filter, sort, page; counts of needs, objections, action items
    /calls/{id}  player, transcript, summary, items to review, speakers, metrics, export
    /upload      several recordings at once, upload and processing progress
    /customers   customers; /customers/{id}: calls, themes, open items, warnings
    /followups   open action items by due date, per rep; the calendar feed
    /insights    needs and objections across calls, as themes, with trends by week
    /search      words across transcripts and items
"""

from __future__ import annotations

from fastapi import APIRouter

from api.failures import failure_text
from api.routes.pages import calls, customers, insights, search, sign_in
from api.routes.pages.common import PAGE_SIZE, WEB_DIR, clock, highlight

__all__ = ["PAGE_SIZE", "WEB_DIR", "clock", "failure_text", "highlight", "router"]

router = APIRouter(include_in_schema=False)
for page in (sign_in, calls, customers, insights, search):
    router.include_router(page.router)
