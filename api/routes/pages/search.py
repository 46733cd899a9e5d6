"""Words across transcripts and items."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep
from api.routes.pages.common import (
    PAGE_SIZE,
    ViewerDep,
    page_number,
    render,
)
from assistant.store import access
from assistant.store import search as store_search

router = APIRouter(include_in_schema=False)


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request, me: ViewerDep, session: SessionDep, q: str = "", page: str = "1"
) -> Response:
    query = q.strip()[:200]
    number = page_number(page, 1000)
    hits: list[store_search.Hit] = []
    if query:
        hits = store_search.search(
            session, access.visible(me.user), query, PAGE_SIZE + 1, (number - 1) * PAGE_SIZE
        )
    more = len(hits) > PAGE_SIZE
    return render(
        request,
        "search.html",
        {
            "me": me,
            "q": query,
            "hits": hits[:PAGE_SIZE],
            "page": number,
            "more": more,
            "page_link": lambda n: "/search?" + urlencode({"q": query, "page": n}),
        },
    )
